import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from ntkbook import plot


def test_loglog_fit_recovers_power_law():
    x = np.geomspace(1, 1e3, 20)
    slope, intercept = plot.loglog_fit(x, 3.0 * x**-0.75)
    assert slope == pytest.approx(-0.75, abs=1e-12)
    assert np.exp(intercept) == pytest.approx(3.0, rel=1e-12)


@pytest.mark.parametrize("x,y,match", [([1.0], [1.0], "two or more"), ([1, 2], [1, 2, 3], "two or more"),
                                       ([1, 2], [1, -1], "positive"), ([0, 2], [1, 1], "positive")])
def test_loglog_fit_bad_input(x, y, match):
    with pytest.raises(ValueError, match=match):
        plot.loglog_fit(x, y)


def test_style_and_figures():
    plot.use_style()
    assert matplotlib.rcParams["axes.spines.top"] is False
    fig, ax = plot.figure()
    slope = plot.plot_loglog_fit(ax, [1, 10, 100], [2, 0.2, 0.02], label="data")
    assert slope == pytest.approx(-1.0)
    fig, axes = plot.figure(ncols=3)
    assert len(axes) == 3
    im = plot.kernel_matrix(axes[0], np.eye(4), title="K")
    assert im.get_array().shape == (4, 4)
    plot.spectrum(axes[1], [3.0, 1.0, 0.0, 2.0], normalize=True)
    line = axes[1].get_lines()[-1]
    np.testing.assert_allclose(line.get_ydata(), [1.0, 2 / 3, 1 / 3])  # zeros dropped, sorted, normalised
    plot.learning_curves(axes[2], [10, 100], {"a": [1.0, 0.1], "b": [2.0, 0.3]})
    assert len(axes[2].get_lines()) == 2
    with pytest.raises(ValueError, match="positive"):
        plot.figure(ncols=0)
    with pytest.raises(ValueError, match="matrix"):
        plot.kernel_matrix(axes[0], np.ones(3))
