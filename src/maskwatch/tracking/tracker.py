"""Giving each face on a video a ``track_id`` that stays with the person: ByteTrack from
Roboflow's ``trackers`` (Kalman prediction plus IoU matching in two stages, so faint
detections of a turning head still continue a track)."""

from __future__ import annotations

import numpy as np

from ..detections import Detections


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

    def update(self, dets: Detections, t: float) -> Detections:
        """The same rows in the same order, with ``tracker_id`` set (-1 while a track is
        unconfirmed). ByteTrack follows the face finder's confidence, not the label's."""
        view = self._sv.Detections(xyxy=dets.xyxy, confidence=dets.face_score, data={"index": np.arange(len(dets))})
        tracked = self.tracker.update(view, timestamp=t)
        ids = np.full(len(dets), -1, np.int64)
        if len(tracked):
            ids[np.asarray(tracked.data["index"], np.int64)] = np.maximum(np.asarray(tracked.tracker_id), -1)
        return dets.with_tracks(ids)

    def reset(self) -> None:
        self.tracker.reset()
