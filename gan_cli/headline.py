"""The metric that ranks runs: one rule for `gan report`'s best job, the first metric column of
a sweep's TensorBoard HParams and a run's checkpoints/best.pt.

The first of HEADLINE present, with its better direction. On the 2D mixtures mode_score
(high-quality share and coverage together) says more than a Gaussian fit in the plane does.
"""

HEADLINE = (("classifier_fid", min), ("fid_inception", min), ("mode_score", max), ("modes_captured", max),
            ("plane_fid", min))


def headline_metric(metrics) -> tuple[str | None, object]:
    """(name, min or max) for these metric names; (None, min) when none of HEADLINE is there."""
    return next(((m, b) for m, b in HEADLINE if m in metrics), (None, min))
