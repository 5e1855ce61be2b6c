"""Regression on your own CSV table: predict a house's price from area, rooms and city.

    python examples/csv_regression.py

Reads examples/data/houses.csv (synthetic, made by this repository; 400 rows). Text columns
are one-hot encoded and numeric ones standardised by `chainrule.data.csv`; the target is
standardised here too, so the network learns numbers of order 1, and turned back into
dollars for the report.
"""
import os

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import TensorDataset, csv
from chainrule.training import fit, mean_absolute_error, predict, r2_score

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "houses.csv")
ds = csv(path, target="price")                       # task "regression": y is (N, 1) float32
print(ds, "features:", ds.feature_names)

x_train, y_train = ds.train.arrays
mu, sigma = y_train.mean(), y_train.std()
train = TensorDataset(x_train, (y_train - mu) / sigma)

cr.manual_seed(0)
model = nn.Sequential(nn.Linear(ds.num_features, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                      nn.Linear(64, 1))
history = fit(model, nn.MSELoss(), optim.Adam(model.parameters(), lr=1e-3), train, epochs=100,
              batch_size=32, metrics=("r2",), seed=0, progress=False)
print(f"train R² after {len(history)} epochs: {history['r2'][-1]:.3f}")

x_test, y_test = ds.test.arrays
price = predict(model, x_test) * sigma + mu          # back to dollars
print(f"test R² {r2_score(price, y_test):.3f}, mean absolute error ${mean_absolute_error(price, y_test):,.0f}")
for p, t in list(zip(price[:, 0], y_test[:, 0]))[:3]:
    print(f"  predicted ${p:,.0f}   actual ${t:,.0f}")
