"""cfkit.curate: dataset preparation (sources, detection + alignment, masks, dedupe, splits, card).

from cfkit.curate import prepare, merge
prepare("folder", src="~/selfies", out="data/selfies", size=128, mask=True)
"""

from cfkit.curate.defaults import PREPARE_DEFAULTS, PrepareOptions, QualityThresholds


def prepare(*args, **kwargs):
    """:func:`cfkit.curate.pipeline.prepare` (imported on use so ``cfkit --help`` stays fast)."""
    from cfkit.curate.pipeline import prepare as run

    return run(*args, **kwargs)


def merge(*args, **kwargs):
    """:func:`cfkit.curate.pipeline.merge`: join ``--shard`` results into one manifest."""
    from cfkit.curate.pipeline import merge as run

    return run(*args, **kwargs)


def align_folder(*args, **kwargs):
    """:func:`cfkit.curate.alignment.align_folder`: detect + align every image of a folder."""
    from cfkit.curate.alignment import align_folder as run

    return run(*args, **kwargs)


def make_masks(*args, **kwargs):
    """:func:`cfkit.curate.masking.make_masks`: (re)compute ``masks/`` of a prepared dataset."""
    from cfkit.curate.masking import make_masks as run

    return run(*args, **kwargs)


__all__ = ["PREPARE_DEFAULTS", "PrepareOptions", "QualityThresholds", "align_folder", "make_masks", "merge", "prepare"]
