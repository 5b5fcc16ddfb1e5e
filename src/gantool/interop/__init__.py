"""Other tools' model files in and out: the reference pix2pix/CycleGAN implementation's .pth."""
