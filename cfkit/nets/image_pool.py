"""History of generated images for discriminator updates (Shrivastava et al. 2017), as in the
official CycleGAN ``util/image_pool.py``: until the pool holds ``size`` images every image is
stored and returned; afterwards each image is, with probability 1/2, swapped for a random stored
one (which is returned) and otherwise returned as is. ``size=0`` disables the pool.

Random draws use torch's RNG (the global one unless a ``generator`` is given) so that a seeded
run is reproducible.
"""

from __future__ import annotations

import torch


class ImagePool:
    def __init__(self, size: int = 50, generator: torch.Generator | None = None):
        self.size = size
        self.images: list[torch.Tensor] = []
        self.generator = generator

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """A batch of the same shape mixing ``images`` (detached) with earlier ones."""
        if self.size == 0:
            return images.detach()
        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand((), generator=self.generator).item() > 0.5:
                i = int(torch.randint(0, self.size, (), generator=self.generator))
                out.append(self.images[i])
                self.images[i] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)

    def state_dict(self) -> dict:
        return {"images": [t.cpu() for t in self.images]}

    def load_state_dict(self, state: dict, device: torch.device | str = "cpu") -> None:
        self.images = [t.to(device) for t in state["images"]]
