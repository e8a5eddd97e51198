"""Inference models: the face detector, the mask classifier, and the Detector joining them."""
