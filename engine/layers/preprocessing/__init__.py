"""Preprocessing layers, by sub-family.

* :mod:`.numeric`: Rescaling, Normalization, CategoryEncoding, Discretization.
* :mod:`.resizing`: Resizing, CenterCrop, UpSampling1D/2D/3D; :mod:`.resize_ops` is
  ``tf.image.resize`` in NumPy.
* :mod:`.geometric`: flips, rotations, zooms, translations, crops, shear, perspective,
  elastic transform, MaxNumBoundingBoxes.
* :mod:`.colour`: contrast, brightness, grayscale, invert, solarization, posterization,
  colour degeneration, hue, saturation, colour jitter, auto contrast.
* :mod:`.filters`: sharpness, Gaussian blur, equalization, CLAHE.
* :mod:`.mixing`: MixUp, CutMix, RandomErasing.
* :mod:`.composite`: Pipeline, RandAugment, AugMix.
* :mod:`.audio`: STFTSpectrogram, MelSpectrogram (Keras 3 only).
* :mod:`.lookup`: StringLookup, IntegerLookup; :mod:`.text`: TextVectorization;
  :mod:`.hashing`: Hashing, HashedCrossing; :mod:`.hash_functions`: TF's FarmHash
  Fingerprint64 and SipHash-2-4.
* :mod:`.image_layer`: the augmentation layers' base class; :mod:`.image_ops`: the NumPy
  image operations they share.

Augmentation layers are the identity at inference (``training=False``, Keras's default for
a direct call), except Keras 2's RandomCrop, which smart-resizes to its target (a layer
read from a Keras 2 config does that; others follow Keras 3 and return the input). With
``training=True`` they draw their random parameters from ``self._rng`` (seeded by
``seed``): the same seed gives the same sequence of outputs, but the random streams are
not Keras's. Given the same drawn parameters the transformations are Keras 3's (affine
matrices, TensorFlow's fill and interpolation rules, colour formulas). They also take Keras
3's dict form ``{"images": ..., "labels": ...}``: labels pass through, except that MixUp
and CutMix mix them with the weights they used for the images.
"""

from .audio import MelSpectrogram, STFTSpectrogram
from .colour import (
    AutoContrast,
    RandomBrightness,
    RandomColorDegeneration,
    RandomColorJitter,
    RandomContrast,
    RandomGrayscale,
    RandomHue,
    RandomInvert,
    RandomPosterization,
    RandomSaturation,
    Solarization,
)
from .composite import AugMix, Pipeline, RandAugment
from .filters import (
    ContrastLimitedAdaptiveHistogramEqualization,
    Equalization,
    RandomGaussianBlur,
    RandomSharpness,
)
from .geometric import (
    MaxNumBoundingBoxes,
    RandomCrop,
    RandomElasticTransform,
    RandomFlip,
    RandomHeight,
    RandomPerspective,
    RandomRotation,
    RandomShear,
    RandomTranslation,
    RandomWidth,
    RandomZoom,
)
from .hash_functions import fingerprint64, hash_buckets, siphash24
from .hashing import HashedCrossing, Hashing
from .image_ops import (
    affine_transform,
    depthwise_same,
    gaussian_kernel,
    homography,
    hsv_to_rgb,
    map_coordinates_2d,
    rgb_to_hsv,
)
from .lookup import IntegerLookup, StringLookup
from .mixing import CutMix, MixUp, RandomErasing
from .numeric import CategoryEncoding, Discretization, Normalization, Rescaling, encode_categorical
from .resize_ops import RESIZE_METHODS, resize_images, resize_weights
from .resizing import CenterCrop, Resizing, UpSampling1D, UpSampling2D, UpSampling3D
from .text import TextVectorization

__all__ = [
    "STFTSpectrogram", "MelSpectrogram",
    "Rescaling", "Normalization", "CategoryEncoding", "Discretization", "encode_categorical",
    "Resizing", "CenterCrop", "UpSampling1D", "UpSampling2D", "UpSampling3D",
    "resize_images", "resize_weights", "RESIZE_METHODS",
    "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomCrop",
    "RandomHeight", "RandomWidth", "RandomShear", "RandomPerspective",
    "RandomElasticTransform", "MaxNumBoundingBoxes",
    "RandomContrast", "RandomBrightness", "AutoContrast", "RandomGrayscale", "RandomInvert",
    "Solarization", "RandomPosterization", "RandomColorDegeneration", "RandomHue",
    "RandomSaturation", "RandomColorJitter",
    "RandomSharpness", "RandomGaussianBlur", "Equalization",
    "ContrastLimitedAdaptiveHistogramEqualization",
    "MixUp", "CutMix", "RandomErasing",
    "Pipeline", "RandAugment", "AugMix",
    "affine_transform", "homography", "rgb_to_hsv", "hsv_to_rgb", "gaussian_kernel",
    "depthwise_same", "map_coordinates_2d",
    "StringLookup", "IntegerLookup", "TextVectorization", "Hashing", "HashedCrossing",
    "fingerprint64", "siphash24", "hash_buckets",
]
