import pytest

from maskwatch.errors import ConfigError
from maskwatch.labels import LABELS, UnknownLabelError, canonical_label, label_mapping


def test_public_aliases_map_to_the_three_labels():
    assert canonical_label("mask_weared_incorrect") == "mask_incorrect"
    assert canonical_label("With Incorrect Mask") == "mask_incorrect"
    assert canonical_label("no-mask") == "without_mask"
    assert canonical_label("mask") == "with_mask"


def test_unknown_label_names_file_and_label():
    with pytest.raises(UnknownLabelError) as info:
        canonical_label("helmet", source="a/b.xml")
    assert "helmet" in str(info.value) and "a/b.xml" in str(info.value)


def test_user_mapping_extends_and_validates():
    mapping = label_mapping({"Maske": "with_mask"})
    assert canonical_label("maske", mapping) == "with_mask"
    with pytest.raises(ConfigError):
        label_mapping({"x": "hat"})
    assert LABELS == ("with_mask", "without_mask", "mask_incorrect")
