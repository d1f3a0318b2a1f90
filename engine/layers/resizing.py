"""Image resizing layers: Resizing, UpSampling1D/2D/3D, CenterCrop, and the interpolation they share."""
