"""XSeg labels: validation, hostile input, metadata round trips, LabelMe and COCO import/export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from faces_factory import synthetic_face
from recast.errors import InputError, MetadataError
from recast.faces.aligned import read_face, read_meta, write_face
from recast.faces.facetype import FaceType
from recast.faces.labels import MAX_POINTS, MAX_POLYGONS, labels_mask, polygon
from recast.faceset.labelformats import export_coco, export_labelme, import_coco, import_labelme
from recast.faceset.labelling import read_labels, write_labels
from recast.faceset.metafile import export_metadata, import_metadata
from recast.faceset.resize import resize_faceset

SQUARE = [[40.0, 40.0], [200.0, 40.0], [200.0, 200.0], [40.0, 200.0]]
HOLE = [[100.0, 100.0], [150.0, 100.0], [150.0, 150.0], [100.0, 150.0]]


@pytest.fixture
def faceset(tmp_path: Path) -> Path:
    folder = tmp_path / "aligned"
    for i in range(3):
        image, meta = synthetic_face(FaceType.WHOLE, 256, seed=i, source_filename=f"{i + 1:05d}.png")
        write_face(folder / f"{i:05d}_0.jpg", image, meta)
    return folder


def _labelled(folder: Path) -> Path:
    face = folder / "00000_0.jpg"
    write_labels(face, [polygon(True, SQUARE), polygon(False, HOLE)])
    return face


def test_labels_rasterise_in_order_and_round_trip(faceset: Path) -> None:
    face = _labelled(faceset)
    labels = read_labels(face)
    assert [p.include for p in labels] == [True, False]
    assert np.allclose(labels[0].points, SQUARE)
    mask = labels_mask(labels, (256, 256))
    assert mask[60, 60] == 1 and mask[125, 125] == 0 and mask[10, 10] == 0
    assert read_face(face).image.shape == (256, 256, 3)  # the image is still readable


@pytest.mark.parametrize("points, message", [
    ([[0, 0], [1, float("nan")], [2, 2]], "NaN"),
    ([[0, 0], [1, 1]], "3 to"),
    ([[0, 0], [1e9, 1], [2, 2]], "far outside"),
    ("0,0,1,1", "not a list"),
    ([[0, 0, 0], [1, 1, 1], [2, 2, 2]], "shape"),
    ([[i, i] for i in range(MAX_POINTS + 1)], "more than"),
])
def test_hostile_polygons_are_refused_and_nothing_is_written(faceset: Path, points: object, message: str) -> None:
    face = faceset / "00001_0.jpg"
    before = face.read_bytes()
    with pytest.raises(InputError, match=message) as caught:
        write_labels(face, [polygon(True, SQUARE), _raw(points)])
    assert str(face) in str(caught.value) and "\n" not in str(caught.value)
    assert face.read_bytes() == before


def _raw(points: object) -> object:
    """A Polygon-like value built without validation (what a hostile caller could pass)."""
    from recast.faces.labels import Polygon

    return Polygon(True, points)  # type: ignore[arg-type]


def test_hostile_labels_in_metadata_are_refused_on_read(faceset: Path, tmp_path: Path) -> None:
    face = _labelled(faceset)
    target, _, _ = export_metadata(faceset)
    data = json.loads(target.read_text())
    entry = data["faces"][face.name]["meta"]
    for bad in ({"version": 1, "polygons": [{"type": "include", "points": [[0, 0], [1, 1], ["x", 2]]}]},
                {"version": 1, "polygons": [{"type": "weird", "points": SQUARE}]},
                {"version": 99, "polygons": []},
                {"version": 1, "polygons": [{"type": "include", "points": SQUARE}] * (MAX_POLYGONS + 1)}):
        entry["xseg_labels"] = bad
        target.write_text(json.dumps(data))
        before = {p.name: p.read_bytes() for p in faceset.iterdir() if p.is_file()}
        with pytest.raises(MetadataError, match=r"metadata\.json"):
            import_metadata(faceset)
        assert {p.name: p.read_bytes() for p in faceset.iterdir() if p.is_file()} == before


def test_labels_survive_resize_and_metadata_export_import(faceset: Path, tmp_path: Path) -> None:
    face = _labelled(faceset)
    result = resize_faceset(faceset, 128, output=tmp_path / "small")
    small = read_labels(result.output / face.name)
    assert np.allclose(small[0].points, np.array(SQUARE) / 2, atol=0.6)
    export_metadata(faceset, tmp_path / "meta.json")
    stripped = face.read_bytes()
    import cv2

    image = cv2.imdecode(np.frombuffer(stripped, np.uint8), cv2.IMREAD_COLOR)
    cv2.imwrite(str(face), cv2.resize(image, (512, 512)))  # an editor resized it and dropped the metadata
    import_metadata(faceset, tmp_path / "meta.json")
    assert np.allclose(read_labels(face)[1].points, np.array(HOLE) * 2, atol=0.05)


def test_labelme_and_coco_round_trip(faceset: Path, tmp_path: Path) -> None:
    face = _labelled(faceset)
    other = tmp_path / "other"
    other.mkdir()
    for path in faceset.iterdir():
        (other / path.name).write_bytes(path.read_bytes())
    write_labels(other / face.name, [])
    assert export_labelme(faceset, tmp_path / "labelme") == 1
    result = import_labelme(other, tmp_path / "labelme")
    assert result.updated == [face.name]
    assert [p.include for p in read_labels(other / face.name)] == [True, False]
    assert np.allclose(read_labels(other / face.name)[1].points, HOLE)
    with pytest.raises(InputError, match="already has XSeg labels"):
        import_labelme(other, tmp_path / "labelme")
    assert export_coco(faceset, tmp_path / "coco.json") == 1
    result = import_coco(other, tmp_path / "coco.json", replace=True)
    assert result.updated == [face.name] and result.backup is not None and (result.backup / face.name).is_file()
    assert np.allclose(read_labels(other / face.name)[0].points, SQUARE)


def test_labelme_scales_points_to_the_face_and_maps_labels(faceset: Path, tmp_path: Path) -> None:
    source = tmp_path / "lm"
    source.mkdir()
    doc = {"shapes": [{"label": "hand", "points": [[10, 10], [60, 10], [60, 60]], "shape_type": "polygon"},
                      {"label": "face", "points": [[0, 0], [100, 0], [100, 100], [0, 100]], "shape_type": "polygon"},
                      {"label": "eye", "points": [[5, 5], [9, 9]], "shape_type": "line"}],
           "imagePath": "..\\\\faces\\\\00002_0.jpg", "imageWidth": 128, "imageHeight": 128}
    (source / "anything.json").write_text(json.dumps(doc))
    import_labelme(faceset, source)
    labels = read_labels(faceset / "00002_0.jpg")
    assert [p.include for p in labels] == [True, False]  # includes first
    assert np.allclose(labels[1].points[1], [120, 20])


@pytest.mark.parametrize("content, message", [
    ("{not json", "not a readable JSON"),
    ('{"images": [{"id": 1, "file_name": "00000_0.jpg"}], "annotations": [{"image_id": 1, "segmentation": '
     '[[0, 0, 1, NaN, 2, 2]]}]}', "NaN"),
    ('{"images": [{"id": 1, "file_name": "00000_0.jpg"}], "annotations": [{"image_id": 1, "segmentation": '
     '{"counts": "abc", "size": [2, 2]}}]}', "RLE"),
    ('{"images": [{"id": 1, "file_name": "00000_0.jpg"}], "annotations": [{"image_id": 1, "segmentation": '
     '[[0, 0, 1e12, 0, 2, 2]]}]}', "implausibly large"),
    ('{"images": [{"id": "x", "file_name": 3}], "annotations": []}', "integer 'id'"),
    ('{"images": [], "annotations": [{"image_id": 5}]}', "names no image"),
    ('[1, 2, 3]', "not a JSON object"),
])
def test_hostile_coco_files_name_the_file_and_write_nothing(faceset: Path, tmp_path: Path, content: str,
                                                             message: str) -> None:
    source = tmp_path / "coco.json"
    source.write_text(content)
    before = {p.name: p.read_bytes() for p in faceset.iterdir()}
    with pytest.raises(InputError, match=message) as caught:
        import_coco(faceset, source)
    assert str(source) in str(caught.value) and "\n" not in str(caught.value)
    assert {p.name: p.read_bytes() for p in faceset.iterdir()} == before


def test_hostile_labelme_file_among_good_ones_writes_nothing(faceset: Path, tmp_path: Path) -> None:
    source = tmp_path / "lm"
    source.mkdir()
    good = {"shapes": [{"label": "face", "points": SQUARE}], "imagePath": "00000_0.jpg"}
    bad = {"shapes": [{"label": "face", "points": [[1, 2], [3, 4], [5, {"x": 1}]]}], "imagePath": "00001_0.jpg"}
    (source / "a.json").write_text(json.dumps(good))
    (source / "b.json").write_text(json.dumps(bad))
    before = {p.name: p.read_bytes() for p in faceset.iterdir()}
    with pytest.raises(InputError, match=r"b\.json"):
        import_labelme(faceset, source)
    assert {p.name: p.read_bytes() for p in faceset.iterdir()} == before
    assert read_meta(faceset / "00000_0.jpg").xseg_labels == []
