"""csv(): users' own tables — task detection, encoding, standardisation, and clear errors."""
from __future__ import annotations

import string

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainrule.data import DatasetSplits, csv, read_features
from chainrule.errors import ConfigError, DataError, DatasetNotFoundError


def _write(tmp_path, text: str, name: str = "table.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


FLOWERS = "length,width,colour,kind\n" + "".join(
    f"{1 + i % 7}.5,{i % 3},{['red', 'blue'][i % 2]},{['rose', 'tulip', 'lily'][i % 3]}\n" for i in range(30)
)


def test_text_target_means_classification_with_sorted_class_names(tmp_path):
    ds = csv(_write(tmp_path, FLOWERS), target="kind")
    assert ds.task == "classification" and ds.class_names == ["lily", "rose", "tulip"]
    x, y = ds.train.arrays
    assert x.dtype == np.float32 and y.dtype == np.int64 and set(y) <= {0, 1, 2}
    assert ds.num_classes == 3 and ds.target_name == "kind"


def test_target_defaults_to_the_last_column(tmp_path):
    assert csv(_write(tmp_path, FLOWERS)).target_name == "kind"


def test_target_may_be_a_column_index(tmp_path):
    ds = csv(_write(tmp_path, FLOWERS), target=0)
    assert ds.target_name == "length"


def test_few_integer_values_mean_classification(tmp_path):
    text = "a,b,label\n" + "".join(f"{i},{i * 2},{i % 4}\n" for i in range(40))
    ds = csv(_write(tmp_path, text), target="label")
    assert ds.task == "classification" and ds.class_names == ["0", "1", "2", "3"]


def test_real_valued_target_means_regression_with_column_targets(tmp_path):
    text = "a,b,price\n" + "".join(f"{i},{i % 5},{i * 1.5 + 0.25}\n" for i in range(40))
    ds = csv(_write(tmp_path, text), target="price")
    assert ds.task == "regression" and ds.num_classes is None and ds.class_names is None
    y = ds.train.arrays[1]
    assert y.shape == (32, 1) and y.dtype == np.float32 and ds.output_size == 1


def test_many_distinct_integers_mean_regression(tmp_path):
    text = "a,count\n" + "".join(f"{i},{i * 3}\n" for i in range(40))
    assert csv(_write(tmp_path, text)).task == "regression"


def test_task_argument_overrides_detection(tmp_path):
    text = "a,label\n" + "".join(f"{i},{i % 2}\n" for i in range(20))
    assert csv(_write(tmp_path, text), task="regression").task == "regression"


def test_regression_with_text_target_raises_data_error_naming_line(tmp_path):
    with pytest.raises(DataError, match=r"line 2.*'rose'.*regression"):
        csv(_write(tmp_path, FLOWERS), target="kind", task="regression")


def test_unknown_task_raises_config_error(tmp_path):
    with pytest.raises(ConfigError, match="task"):
        csv(_write(tmp_path, FLOWERS), task="clustering")


def test_text_feature_columns_are_one_hot_encoded(tmp_path):
    ds = csv(_write(tmp_path, FLOWERS), target="kind")
    assert ds.feature_names == ["length", "width", "colour=blue", "colour=red"]
    assert ds.num_features == 4
    assert ds.columns[2] == {"name": "colour", "kind": "categorical", "categories": ["blue", "red"]}


def test_text_column_with_too_many_values_raises_naming_the_column(tmp_path):
    text = "name,y\n" + "".join(f"person{i},{i % 2}\n" for i in range(30))
    with pytest.raises(DataError, match="'name'.*30 distinct"):
        csv(_write(tmp_path, text))


def test_features_are_standardised_with_train_statistics(tmp_path):
    text = "a,b,y\n" + "".join(f"{i},{100 + 3 * i},{i % 2}\n" for i in range(50))
    ds = csv(_write(tmp_path, text))
    x = ds.train.arrays[0]
    np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(x.std(axis=0), 1, atol=1e-4)
    raw = np.array([[i, 100 + 3 * i] for i in range(50)], np.float32)
    np.testing.assert_allclose(ds.mean, raw[np.isin(np.arange(50), _train_rows(ds, raw))].mean(axis=0), rtol=1e-5)


def _train_rows(ds: DatasetSplits, raw: np.ndarray) -> np.ndarray:
    """Recover which raw rows went to train (the 'a' column is the row number)."""
    return np.rint(ds.train.arrays[0][:, 0] * ds.std[0] + ds.mean[0]).astype(int)


def test_split_is_stratified_and_deterministic(tmp_path):
    p = _write(tmp_path, FLOWERS)
    a, b = csv(p, seed=3), csv(p, seed=3)
    np.testing.assert_array_equal(a.test.arrays[0], b.test.arrays[0])
    assert list(np.bincount(a.test.arrays[1])) == [2, 2, 2]


def test_semicolon_and_tab_delimiters_are_detected(tmp_path):
    for delim in (";", "\t"):
        p = _write(tmp_path, FLOWERS.replace(",", delim), name="t.txt")
        assert csv(p).num_features == 4


def test_explicit_delimiter_is_used(tmp_path):
    p = _write(tmp_path, FLOWERS.replace(",", "|"))
    assert csv(p, delimiter="|").num_features == 4


def test_quoted_fields_may_contain_the_delimiter(tmp_path):
    text = 'x,city\n' + "".join(f'{i},"Paris, France"\n' if i % 2 else f'{i},"Lyon, France"\n' for i in range(10))
    assert csv(_write(tmp_path, text)).class_names == ["Lyon, France", "Paris, France"]


def test_utf8_bom_and_blank_lines_are_tolerated(tmp_path):
    p = tmp_path / "bom.csv"
    p.write_bytes(b"\xef\xbb\xbfa,y\n\n1,0\n2,1\n\n3,0\n4,1\n")
    assert csv(p).feature_names == ["a"]


def test_read_features_prepares_new_rows_like_training(tmp_path):
    ds = csv(_write(tmp_path, FLOWERS), target="kind")
    new = _write(tmp_path, "colour,width,length\nred,1,2.5\n", name="new.csv")
    x = read_features(new, ds)
    raw = np.array([[2.5, 1.0, 0.0, 1.0]], np.float32)
    np.testing.assert_allclose(x, (raw - ds.mean) / ds.std, rtol=1e-5)
    np.testing.assert_allclose(read_features(new, ds.preprocessing()), x)


def test_read_features_refuses_unseen_category(tmp_path):
    ds = csv(_write(tmp_path, FLOWERS), target="kind")
    new = _write(tmp_path, "length,width,colour\n1,1,green\n", name="new.csv")
    with pytest.raises(DataError, match=r"line 2.*'colour'.*'green'"):
        read_features(new, ds, strict=True)


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("", "empty"),
        ("   \n\n", "empty"),
        ("a,b,y\n", "no data rows"),
        ("1,2,3\n4,5,6\n", "header"),
        ("a,b,y\n1,2,0\n3,4\n", "line 3: 2 fields, expected 3"),
        ("a,b,y\n1,inf,0\n", "line 2.*not finite"),
        ("a,a,y\n1,2,0\n", "twice"),
        ("a,,y\n1,2,0\n", "column 2.*no name"),
        ("y\n1\n2\n", "feature column"),
    ],
)
def test_malformed_tables_raise_data_error_naming_file_and_line(tmp_path, text, pattern):
    p = _write(tmp_path, text, name="bad.csv")
    with pytest.raises(DataError, match=pattern) as info:
        csv(p)
    assert "bad.csv" in str(info.value)


def test_unknown_target_lists_available_columns(tmp_path):
    with pytest.raises(DataError, match="'species'.*length, width, colour, kind"):
        csv(_write(tmp_path, FLOWERS), target="species")


def test_target_index_out_of_range_raises(tmp_path):
    with pytest.raises(DataError, match="index 9"):
        csv(_write(tmp_path, FLOWERS), target=9)


def test_non_utf8_file_raises_data_error_with_line(tmp_path):
    p = tmp_path / "latin1.csv"
    p.write_bytes("a,y\n1,0\n2,caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1.csv, line 3: not UTF-8"):
        csv(p)


def test_missing_file_raises_dataset_not_found(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="nothing.csv"):
        csv(tmp_path / "nothing.csv")


_ALPHABET = string.ascii_letters[:6] + string.digits[:4] + ",;\t\"\n .-"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=_ALPHABET, max_size=200), target=st.one_of(st.none(), st.integers(-3, 3)))
def test_fuzz_any_text_gives_a_dataset_or_a_data_error(tmp_path, text, target):
    p = tmp_path / "fuzz.csv"
    p.write_text(text, encoding="utf-8")
    try:
        ds = csv(p, target=target)
    except DataError:
        return
    assert ds.train.arrays[0].dtype == np.float32
    assert np.isfinite(ds.train.arrays[0]).all()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=200))
def test_fuzz_any_bytes_give_a_dataset_or_a_data_error(tmp_path, data):
    p = tmp_path / "fuzz.csv"
    p.write_bytes(data)
    try:
        csv(p)
    except DataError:
        pass


# ----------------------------------------------------------------------------- missing values
GAPPY = "age,town,y\n" + "".join(
    f"{'' if i % 5 == 0 else 20 + i},{'' if i % 7 == 0 else ['north', 'south', 'south'][i % 3]},{i % 2}\n"
    for i in range(40)
)


def test_missing_values_are_imputed_by_default_with_indicator_columns(tmp_path):
    ds = csv(_write(tmp_path, GAPPY))
    assert ds.feature_names == ["age", "age missing", "town=north", "town=south", "town missing"]
    for x, _ in (ds.train.arrays, ds.test.arrays):
        assert np.isfinite(x).all()
    assert any("filled in missing values" in n and "age (8)" in n and "town (6)" in n for n in ds.notes)


def test_imputed_numbers_get_the_training_mean_and_categories_the_training_mode(tmp_path):
    ds = csv(_write(tmp_path, GAPPY), test_fraction=0.25)
    raw = ds.train.arrays[0].astype(np.float64) * ds.std + ds.mean
    missing_age = raw[:, 1] == 1
    present = raw[~missing_age, 0]
    np.testing.assert_allclose(raw[missing_age, 0], present.mean(), rtol=1e-5)
    missing_town = raw[:, 4] == 1
    assert (raw[missing_town, 3] == 1).all() and (raw[missing_town, 2] == 0).all()  # 'south' is the mode


def test_fill_values_come_from_each_folds_training_rows_only(tmp_path):
    ds = csv(_write(tmp_path, GAPPY))
    for fold in ds.cross_validation(4, seed=0):
        raw_test = fold.test.arrays[0].astype(np.float64) * fold.std + fold.mean
        raw_train = fold.train.arrays[0].astype(np.float64) * fold.std + fold.mean
        train_mean = raw_train[raw_train[:, 1] == 0, 0].mean()
        np.testing.assert_allclose(raw_test[raw_test[:, 1] == 1, 0], train_mean, rtol=1e-5)


def test_missing_drop_drops_rows_with_a_gap_and_says_how_many(tmp_path):
    ds = csv(_write(tmp_path, GAPPY), missing="drop")
    gappy_rows = len({i for i in range(40) if i % 5 == 0 or i % 7 == 0})
    assert len(ds.train) + len(ds.test) == 40 - gappy_rows
    assert ds.imputation is None and "age missing" not in ds.feature_names
    assert any(n.startswith(f"dropped {gappy_rows} row(s)") for n in ds.notes)


@pytest.mark.parametrize("text, pattern", [
    ("a,b,y\n1,2,0\n3,,1\n", "line 3: missing value in column 'b'"),
    ("a,b,y\n1,NA,0\n2,3,1\n", "line 2: missing value in column 'b'"),
    ("a,y\n1,0\n2,\n", "line 3: the target 'y' is missing"),
])
def test_missing_error_refuses_gaps_naming_line_and_column(tmp_path, text, pattern):
    with pytest.raises(DataError, match=pattern):
        csv(_write(tmp_path, text), missing="error")


def test_rows_with_a_missing_target_are_dropped_with_a_count(tmp_path):
    text = "a,y\n" + "".join(f"{i},{'' if i < 3 else i % 2}\n" for i in range(20))
    ds = csv(_write(tmp_path, text))
    assert len(ds.train) + len(ds.test) == 17
    assert "dropped 3 row(s) whose target 'y' is missing" in ds.notes


def test_none_is_a_category_unless_asked_to_mean_missing(tmp_path):
    text = "pet,y\n" + "".join(f"{['none', 'cat', 'dog'][i % 3]},{i % 2}\n" for i in range(30))
    assert "pet=none" in csv(_write(tmp_path, text)).feature_names
    ds = csv(_write(tmp_path, text), na_values=["", "none"])
    assert "pet=none" not in ds.feature_names and "pet missing" in ds.feature_names


def test_read_features_fills_gaps_as_in_training(tmp_path):
    ds = csv(_write(tmp_path, GAPPY))
    new = _write(tmp_path, "age,town,id\n,,1\n30,north,2\n", name="new.csv")
    x = read_features(new, ds).astype(np.float64) * ds.std + ds.mean
    np.testing.assert_allclose(x[0], ds.imputation.fill * [1, 0, 1, 1, 0] + [0, 1, 0, 0, 1], atol=1e-4)
    np.testing.assert_allclose(x[1], [30, 0, 1, 0, 0], atol=1e-4)


def test_read_features_encodes_an_unseen_category_as_zeros_with_a_warning(tmp_path):
    ds = csv(_write(tmp_path, FLOWERS), target="kind")
    new = _write(tmp_path, "length,width,colour\n1,1,green\n", name="new.csv")
    with pytest.warns(UserWarning, match="colour \\(1 row"):
        x = read_features(new, ds)
    raw = x.astype(np.float64) * ds.std + ds.mean
    np.testing.assert_allclose(raw[0, 2:], [0, 0], atol=1e-5)


# ----------------------------------------------------------------------------- columns
def test_ignore_leaves_columns_out(tmp_path):
    ds = csv(_write(tmp_path, FLOWERS), target="kind", ignore=["colour"])
    assert ds.feature_names == ["length", "width"]


def test_ignore_of_an_unknown_column_names_the_columns(tmp_path):
    with pytest.raises(DataError, match="no column named 'color'.*colour"):
        csv(_write(tmp_path, FLOWERS), target="kind", ignore=["color"])


def test_a_text_column_unique_per_row_is_left_out_with_a_note(tmp_path):
    text = "name,a,y\n" + "".join(f"person{i},{i},{i % 2}\n" for i in range(30))
    ds = csv(_write(tmp_path, text))
    assert ds.feature_names == ["a"]
    assert any("left out column 'name'" in n and "30 distinct" in n for n in ds.notes)


@pytest.mark.parametrize("stray", ["3.0x", "zz"])
def test_a_numeric_column_with_a_stray_value_is_refused_naming_row_column_and_value(tmp_path, stray):
    text = "a,y\n" + "".join(f"{stray if i == 17 else i % 3},{i % 2}\n" for i in range(50))
    with pytest.raises(DataError, match=f"line 19: column 'a' holds numbers but '{stray}'"):
        csv(_write(tmp_path, text))


def test_values_beyond_float32_are_refused_naming_line_and_column(tmp_path):
    text = "a,y\n1,0\n1e39,1\n2,0\n"
    with pytest.raises(DataError, match="line 3: value '1e39' in column 'a' is beyond float32"):
        csv(_write(tmp_path, text))


def test_a_target_with_one_class_is_refused(tmp_path):
    text = "a,y\n" + "".join(f"{i},yes\n" for i in range(10))
    with pytest.raises(DataError, match="single class"):
        csv(_write(tmp_path, text))
