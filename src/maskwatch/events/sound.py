"""The sound sink: a spoken (or played) reminder at the camera's speaker, the alert that
works at a building's door ("Please pull your mask over your nose").

Speech comes from Debian's ``espeak-ng`` (or a WAV file per label), played with ALSA's
``aplay``. Without a speaker (``wav_dir``) the WAV files it would play are written to a
folder instead, which is also how it is tested. A cooldown per camera keeps a queue of
people from making it talk over itself, and quiet hours keep it silent at night; an event
skipped for either is acknowledged (it is not worth saying later).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from datetime import time as clock
from pathlib import Path

from ..errors import ConfigError, DeliveryError
from ..labels import MASK_INCORRECT, WITHOUT_MASK

log = logging.getLogger("maskwatch.events")

#: What is said for each violation unless the config says otherwise.
DEFAULT_SAY = {
    WITHOUT_MASK: "Please wear a mask.",
    MASK_INCORRECT: "Please pull your mask over your nose.",
}
INSTALL = "install Debian's espeak-ng and alsa-utils (apt-get install espeak-ng alsa-utils)"


def _parse_quiet(text: str | None) -> tuple[clock, clock] | None:
    if not text:
        return None
    m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", str(text))
    if not m:
        raise ConfigError(f"sinks: sound quiet_hours must look like 22:00-07:00, not {text!r}")
    h1, m1, h2, m2 = map(int, m.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise ConfigError(f"sinks: sound quiet_hours {text!r} is not a time range")
    return clock(h1, m1), clock(h2, m2)


@dataclass
class SoundSink:
    """Says (or plays) a reminder for each violation.

    Args:
        say: text per label (defaults in :data:`DEFAULT_SAY`).
        wav: a WAV file per label to play instead of speech.
        cooldown: seconds after a reminder during which the same camera stays silent.
        quiet_hours: ``"22:00-07:00"`` (local time): no sound then.
        wav_dir: write the WAV files here instead of playing them (no audio device needed).
        device: the ALSA device for ``aplay -D`` (default: the system's).
        voice, speed: espeak-ng's voice and words per minute.
    """

    say: dict[str, str] = field(default_factory=dict)
    wav: dict[str, str] = field(default_factory=dict)
    cooldown: float = 10.0
    quiet_hours: str | None = None
    wav_dir: str | None = None
    device: str | None = None
    voice: str = "en"
    speed: int = 150
    name: str = "sound"
    durable: bool = True  # delivered through the outbox, like every sink
    _last: dict[str, float] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        self.say = {**DEFAULT_SAY, **{str(k): str(v) for k, v in (self.say or {}).items()}}
        self._quiet = _parse_quiet(self.quiet_hours)
        for label, path in (self.wav or {}).items():
            if not Path(path).is_file():
                raise ConfigError(f"sinks: sound wav for {label}: {path} is not a file")
        if self.wav_dir:
            try:
                Path(self.wav_dir).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"sinks: sound wav_dir {self.wav_dir}: cannot create ({exc.strerror})") from None

    def missing(self) -> str | None:
        """What to install for this sink to work here, or None."""
        needs = [] if self.wav and set(self.say) <= set(self.wav) else ["espeak-ng"]
        if not self.wav_dir:
            needs.append("aplay")
        lacking = [tool for tool in needs if shutil.which(tool) is None]
        return f"the sound sink needs {', '.join(lacking)}: {INSTALL}" if lacking else None

    def quiet_now(self, now: datetime | None = None) -> bool:
        if self._quiet is None:
            return False
        t = (now or datetime.now()).time()
        start, end = self._quiet
        return start <= t < end if start <= end else t >= start or t < end

    def send(self, payload: dict, timeout: float | None = None) -> None:
        """Say the reminder for this event (or write its WAV), unless the camera is in its
        cooldown or it is quiet time; either way the event is acknowledged."""
        camera, label = payload["camera"], payload["label"]
        if payload.get("test"):
            label = label if label in self.say else WITHOUT_MASK
        if self.quiet_now():
            log.info("sound: %s on %s not said (quiet hours)", label, camera)
            return
        now = time.monotonic()
        if now - self._last.get(camera, -1e9) < self.cooldown:
            log.info("sound: %s on %s not said (cooldown)", label, camera)
            return
        wav = self.render(label, payload)
        try:
            if self.wav_dir:
                stamp = payload.get("time", "").replace(":", "").replace("-", "")[:15] or "now"
                target = Path(self.wav_dir) / f"{stamp}-{_safe(camera)}-{label}-{payload['id'][:8]}.wav"
                shutil.copyfile(wav, target)
            else:
                self._play(wav)
        finally:
            if not self.wav.get(label):
                Path(wav).unlink(missing_ok=True)
        self._last[camera] = now

    def render(self, label: str, payload: dict | None = None) -> str:
        """A WAV file for ``label``: the configured file, or speech made now (a temporary file)."""
        if self.wav.get(label):
            return self.wav[label]
        text = self.say.get(label)
        if not text:
            raise DeliveryError(f"sound: nothing to say for {label!r}", permanent=True)
        if shutil.which("espeak-ng") is None:
            raise DeliveryError(f"sound: {INSTALL}", permanent=True)
        fd, path = tempfile.mkstemp(prefix="maskwatch-", suffix=".wav")
        os.close(fd)
        cmd = ["espeak-ng", "-v", self.voice, "-s", str(self.speed), "-w", path, text]
        try:
            subprocess.run(cmd, check=True, capture_output=True, timeout=30)
        except (OSError, subprocess.SubprocessError) as exc:
            Path(path).unlink(missing_ok=True)
            raise DeliveryError(f"sound: espeak-ng failed ({exc})") from None
        return path

    def _play(self, wav: str) -> None:
        if shutil.which("aplay") is None:
            raise DeliveryError(f"sound: no aplay to play it: {INSTALL}, or set wav_dir", permanent=True)
        cmd = ["aplay", "-q", *(["-D", self.device] if self.device else []), wav]
        try:
            done = subprocess.run(cmd, capture_output=True, timeout=60)
        except (OSError, subprocess.SubprocessError) as exc:
            raise DeliveryError(f"sound: aplay failed ({exc})") from None
        if done.returncode != 0:
            reason = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no audio device"]
            raise DeliveryError(f"sound: aplay failed on ALSA device {self.device or 'default'!r}: {reason[0]}")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name)[:60]
