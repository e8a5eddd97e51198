"""Video files, webcams and camera streams: reading frames off the inference thread."""
