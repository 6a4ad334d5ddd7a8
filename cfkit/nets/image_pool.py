"""History of generated images for discriminator updates (Shrivastava et al. 2017), as in the
official CycleGAN ``util/image_pool.py``: until the pool holds ``size`` images every image is
stored and returned; afterwards each image is, with probability 1/2, swapped for a random stored
one (which is returned) and otherwise returned as is. ``size=0`` disables the pool.

The pool is a module whose buffers hold the stored images, so it travels with ``state_dict()``
(a resumed run continues with the same history); random draws use torch's RNG (the global one
unless a ``generator`` is given), which the trainer seeds and checkpoints.
"""

from __future__ import annotations

import torch
from torch import nn


class ImagePool(nn.Module):
    """``size`` images of ``shape`` (C, H, W)."""

    def __init__(
        self, size: int = 50, shape: tuple[int, ...] = (3, 128, 128), generator: torch.Generator | None = None
    ):
        super().__init__()
        self.size = size
        self.generator = generator
        self.register_buffer("images", torch.zeros(size, *shape))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    def __len__(self) -> int:
        return int(self.count)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """A batch of the same shape mixing ``images`` (detached) with earlier ones."""
        if self.size == 0:
            return images.detach()
        out = []
        for image in images.detach():
            n = int(self.count)
            if n < self.size:
                self.images[n] = image
                self.count += 1
                out.append(image)
            elif torch.rand((), generator=self.generator).item() > 0.5:
                i = int(torch.randint(0, self.size, (), generator=self.generator))
                out.append(self.images[i].to(image.dtype, copy=True))  # AMP: fakes may be half precision
                self.images[i] = image
            else:
                out.append(image)
        return torch.stack(out)
