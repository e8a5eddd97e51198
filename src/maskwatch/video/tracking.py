"""Giving each face on a video a ``track_id`` that stays with the person: ByteTrack from
Roboflow's ``trackers`` (Kalman prediction plus IoU matching in two stages, so faint
detections of a turning head still continue a track)."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..models.detector import Face


class FaceTracker:
    """Feed each analysed frame's faces (with their time); get them back with track ids.

    A new track needs ``confirm_frames`` consecutive detections before it gets an id, so a
    one-frame false positive never becomes a person; a track survives ``lost_seconds``
    without detections (a head turned away, someone walking past in front)."""

    def __init__(
        self,
        lost_seconds: float = 1.0,
        confirm_frames: int = 2,
        activation: float = 0.5,
        high_confidence: float = 0.5,
        min_iou: float = 0.1,
    ):
        import supervision as sv
        from trackers import ByteTrackTracker

        self._sv = sv
        self.tracker = ByteTrackTracker(
            lost_track_buffer=max(1, round(lost_seconds * 30)),  # counted in 30 FPS frames
            frame_rate=30.0,
            track_activation_threshold=activation,
            minimum_consecutive_frames=confirm_frames,
            minimum_iou_threshold=min_iou,
            high_conf_det_threshold=high_confidence,
        )

    def update(self, faces: list[Face], t: float) -> list[Face]:
        """The same faces, each with ``track_id`` (None while its track is unconfirmed)."""
        if faces:
            dets = self._sv.Detections(
                xyxy=np.array([f.box for f in faces], np.float32),
                confidence=np.array([f.face_score for f in faces], np.float32),
                data={"index": np.arange(len(faces))},
            )
        else:
            dets = self._sv.Detections.empty()
            dets.data["index"] = np.zeros(0, int)
        tracked = self.tracker.update(dets, timestamp=t)
        ids: dict[int, int] = {}
        for index, track_id in zip(tracked.data.get("index", []), tracked.tracker_id):
            if track_id >= 0:
                ids[int(index)] = int(track_id)
        return [dataclasses.replace(f, track_id=ids.get(i)) for i, f in enumerate(faces)]

    def reset(self) -> None:
        self.tracker.reset()
