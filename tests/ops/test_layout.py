"""chainrule.ops.layout: an array's memory layout, and a gradient moved into another's."""
import numpy as np

from chainrule.ops.layout import in_layout_of, memory_order


def test_memory_order_lists_axes_from_slowest_to_fastest():
    a = np.zeros((2, 4, 5, 3)).transpose(0, 3, 1, 2)                # NCHW view of NHWC memory
    assert memory_order(a) == [0, 2, 3, 1]
    assert memory_order(np.zeros((2, 3, 4, 5))) == [0, 1, 2, 3]


def test_a_gradient_already_in_the_layout_is_returned_as_is():
    like = np.zeros((2, 3, 4, 5))
    g = np.ones((2, 3, 4, 5))
    assert in_layout_of(g, like) is g


def test_a_gradient_in_another_layout_is_copied_into_it_with_equal_values():
    like = np.zeros((2, 4, 5, 3)).transpose(0, 3, 1, 2)
    g = np.arange(120.0).reshape(2, 3, 4, 5)
    moved = in_layout_of(g, like)
    np.testing.assert_array_equal(moved, g)
    assert memory_order(moved) == memory_order(like) and moved.dtype == g.dtype
