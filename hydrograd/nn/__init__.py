"""smash's neural-network builder (``factory.Net``) over :mod:`hydrograd.core.net`, and the weight
initializers that draw smash's numbers."""

from hydrograd.nn.net import Activation, Conv2D, Dense, Dropout, Flatten, Layer, Net, Scale, default_net

__all__ = ["Activation", "Conv2D", "Dense", "Dropout", "Flatten", "Layer", "Net", "Scale", "default_net"]
