"""Counting logic on hand-made tracks: votes, minimum length, lingering people, zones and
lines. (The same logic runs on real faces in test_watch.py.)"""

from __future__ import annotations

import numpy as np

from maskwatch import LABELS, Detections
from maskwatch.tracking.counting import PeopleCounter
from maskwatch.tracking.tracker import FaceTracker
from maskwatch.tracking.zones import Region

FRAME = np.zeros((480, 640, 3), np.uint8)


def face(track_id, x, label="with_mask", p=0.9, y=100, size=80):
    other = (1 - p) / 2
    probs = {lb: (p if lb == label else other) for lb in ("with_mask", "without_mask", "mask_incorrect")}
    dets = Detections.from_scores(np.array([[x, y, x + size, y + size]]), [0.95], [[probs[lb] for lb in LABELS]])
    dets.tracker_id[:] = -1 if track_id is None else track_id
    return dets


def run(counter, frames):
    people = []
    for i, faces in enumerate(frames):
        people += counter.update(Detections.merge(faces), FRAME, i * 0.1)
    return people + counter.flush()


def test_vote_gives_one_label_per_person_despite_flicker():
    # 10 frames: 6 say without_mask, 4 (turned head) say with_mask, confidently
    labels = ["without_mask", "with_mask"] * 2 + ["without_mask"] * 6
    people = run(PeopleCounter(min_frames=5), [[face(1, 10 * i, lb)] for i, lb in enumerate(labels)])
    assert len(people) == 1
    assert people[0].label == "without_mask" and people[0].frames == 10
    assert people[0].frame is not None and people[0].violation


def test_short_tracks_do_not_count():
    frames = [[face(1, 0)]] * 3 + [[]] * 20 + [[face(2, 300)]] * 5
    people = run(PeopleCounter(min_frames=5, lost_seconds=1.0), frames)
    assert [p.track_id for p in people] == [2]


def test_a_person_who_leaves_is_decided_when_lost_and_never_twice():
    counter = PeopleCounter(min_frames=3, decide_after=60, lost_seconds=0.5)
    decided = []
    for i in range(6):
        decided += counter.update(face(7, 10 * i, "mask_incorrect"), FRAME, i * 0.1)
    assert decided == []  # still in view, vote open
    for i in range(6, 20):
        decided += counter.update(Detections.empty(), FRAME, i * 0.1)
    assert [(p.track_id, p.label) for p in decided] == [(7, "mask_incorrect")]
    assert counter.flush() == []


def test_lingering_person_is_decided_after_decide_after_seconds_once():
    counter = PeopleCounter(min_frames=3, decide_after=2.0, lost_seconds=1.0)
    decided = []
    for i in range(100):  # 10 s in view
        decided += counter.update(face(3, 100, "without_mask"), FRAME, i * 0.1)
    assert len(decided) == 1 and abs(decided[0].last_t - 2.0) < 0.11
    assert counter.flush() == []


def test_zone_counts_only_faces_inside_it():
    zone = [[0, 0], [320, 0], [320, 480], [0, 480]]  # the left half
    frames = [[face(1, 20 + 5 * i), face(2, 450 + 5 * i, "without_mask")] for i in range(10)]
    people = run(PeopleCounter(min_frames=5, region=Region(zone=zone)), frames)
    assert [(p.track_id, p.label) for p in people] == [(1, "with_mask")]


def test_line_counts_crossings_in_one_direction():
    line = {"start": [320, 0], "end": [320, 480], "direction": "any"}
    right = [[face(1, 200 + 20 * i), face(2, 500, "without_mask")] for i in range(12)]  # 1 crosses, 2 stays
    people = run(PeopleCounter(min_frames=5, region=Region(line=line)), right)
    assert [p.track_id for p in people] == [1]
    # one direction only: a person walking the other way is not counted
    counted = {}
    for direction in ("in", "out"):
        region = Region(line={**line, "direction": direction})
        counted[direction] = [p.track_id for p in run(PeopleCounter(min_frames=5, region=region), right)]
    assert sorted(counted.values()) == [[], [1]]


def test_tracker_keeps_ids_through_a_missed_frame_and_separates_people():
    tracker = FaceTracker(lost_seconds=1.0)
    ids = []
    for i in range(10):
        faces = [face(None, 10 + 8 * i), face(None, 400 - 8 * i, "without_mask", y=300)]
        if i == 5:
            faces = faces[:1]  # the second face is missed once
        ids.append([f.track_id for f in tracker.update(Detections.merge(faces), i * 0.1)])
    assert ids[0] == [None, None]  # not confirmed on its first frame
    firsts = {row[0] for row in ids[1:]}
    seconds = {row[1] for row in ids[1:] if len(row) > 1}
    assert len(firsts) == 1 and len(seconds) == 1 and firsts != seconds
