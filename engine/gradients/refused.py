"""The layer classes engine.gradients refuses, each with the reason it gives: every class
of the catalog is either in the VJP table or here (tests/engine/test_gradients_coverage.py
checks that none is left out)."""

from __future__ import annotations

_AUGMENTATION = (
    "random data augmentation: it only acts in training, with a fresh random draw per "
    "batch, and is not part of the network being differentiated")
_LOOKUP = (
    "preprocessing that maps values to integer ids or encodings (no gradient flows through "
    "it)")
_IMAGE = (
    "image preprocessing (run it on the data before the model; engine.gradients "
    "differentiates the network, not the input pipeline)")
_AUDIO = "audio preprocessing (a fixed transform of the data, run before the model)"

#: class name -> why it has no backward pass
REFUSED: dict[str, str] = {
    **{name: _AUGMENTATION for name in (
        "AugMix", "CutMix", "MixUp", "RandAugment", "RandomBrightness",
        "RandomColorDegeneration", "RandomColorJitter", "RandomContrast", "RandomCrop",
        "RandomElasticTransform", "RandomErasing", "RandomFlip", "RandomGaussianBlur",
        "RandomGrayscale", "RandomHeight", "RandomHue", "RandomInvert", "RandomPerspective",
        "RandomPosterization", "RandomRotation", "RandomSaturation", "RandomSharpness",
        "RandomShear", "RandomTranslation", "RandomWidth", "RandomZoom")},
    **{name: _LOOKUP for name in (
        "CategoryEncoding", "Discretization", "HashedCrossing", "Hashing", "IntegerLookup",
        "StringLookup", "TextVectorization")},
    **{name: _IMAGE for name in (
        "AutoContrast", "CenterCrop", "ContrastLimitedAdaptiveHistogramEqualization",
        "Equalization", "MaxNumBoundingBoxes", "Pipeline", "Resizing", "Solarization")},
    **{name: _AUDIO for name in ("MelSpectrogram", "STFTSpectrogram")},
    "InputLayer": "it is a model's input placeholder, not a computation: take the gradients "
                  "of the model (they include the gradient w.r.t. each input)",
    "Lambda": "its Python function has no derivative known to engine.gradients",
}
