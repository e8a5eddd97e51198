"""Who is who across frames (tracks) and who counts (zones, lines, one vote per person)."""
