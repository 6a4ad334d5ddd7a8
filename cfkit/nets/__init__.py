"""Network architectures (at paper scale; width options shrink them for tests) and pretrained backbones."""
