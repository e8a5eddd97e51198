"""The jobs: ``detect`` and ``watch``, and the one frame pipeline they, the MJPEG stream and the video upload share."""
