"""cfkit: cartoon <-> photo face translation research toolkit.

Curate unpaired face datasets, train the GANs of the field, evaluate methods side by
side and run blind user studies, from one installable package.
"""

__version__ = "0.1.0"
