# Copyright (c) OpenMMLab. All rights reserved.
"""SPML's data path: the four weak labels as partial label maps, the
region maps, and the three label values through mmseg's real transforms.

Every expected map is drawn by hand below (254 = unlabelled, 255 = not
part of the image)."""
import json

import numpy as np
import pytest
from mmcv.transforms import Compose
from mmengine.registry import DefaultScope
from mmseg.registry import MODELS, TRANSFORMS
from PIL import Image

from mmwsss.datasets import (LoadBoxWeakLabel, LoadCAMs, LoadPointWeakLabel,
                             LoadRegionMap, LoadScribbleWeakLabel,
                             TagsToWeakLabel)
from mmwsss.datasets.transforms.weak_labels import (dilate_labels,
                                                    parse_scribble_text)
from mmwsss.utils.oversegment import encode_region_png

U = 254  # unlabelled (part of the image)
P = 255  # not part of the image
VOC = ('background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle',
       'bus', 'car', 'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse',
       'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train',
       'tvmonitor')


def _results(path_key=None, path=None, h=6, w=8):
    res = dict(
        img=np.zeros((h, w, 3), np.uint8),
        img_path='img/a.jpg',
        img_shape=(h, w),
        ori_shape=(h, w),
        seg_fields=[])
    if path_key is not None:
        res[path_key] = str(path)
    return res


def _palette_png(path, label):
    img = Image.fromarray(label.astype(np.uint8), mode='P')
    img.putpalette([v for i in range(256) for v in (i, i, i)])
    img.save(path)


# ---------------------------------------------------------------------------
# tags
# ---------------------------------------------------------------------------
def test_tags_from_saved_cams(tmp_path):
    cams = np.zeros((2, 2, 3), np.float16)
    cams[0] = [[1.0, 0.5, 0.0], [0.25, 0.0, 0.125]]  # class 3
    cams[1] = [[0.0, 0.75, 0.0], [0.0, 0.0, 0.0]]  # class 7
    path = tmp_path / 'a.npz'
    np.savez(path, cams=cams, labels=np.array([3, 7]))
    # m = [[1, .75, 0], [.25, 0, .125]], bg = (1 - m)^6 =
    #     [[0, 2.4e-4, 1], [0.178, 1, 0.449]]
    # (1, 0): max(0.178, 0.25) = 0.25 < 0.3 -> unlabelled
    # (1, 2): the background 0.449 beats the CAM 0.125
    res = LoadCAMs()(_results('cam_path', path, 2, 3))
    out = TagsToWeakLabel(num_classes=21, alpha=6, threshold=0.3)(res)
    np.testing.assert_array_equal(out['gt_weak_seg'],
                                  [[3, 7, 0], [U, 0, 0]])
    assert out['gt_weak_seg'].dtype == np.uint8
    assert out['seg_fields'] == ['gt_weak_seg']
    assert 'cams' not in out and 'cam_labels' not in out
    # the paper's threshold 0.2 is below the smallest winning score at
    # alpha 6 (about 0.222): nothing is unlabelled
    res = LoadCAMs()(_results('cam_path', path, 2, 3))
    out = TagsToWeakLabel(num_classes=21)(res)
    np.testing.assert_array_equal(out['gt_weak_seg'],
                                  [[3, 7, 0], [3, 0, 0]])


def test_tags_background_only_and_errors(tmp_path):
    path = tmp_path / 'bg.npz'
    np.savez(path, cams=np.zeros((0, 2, 3), np.float16),
             labels=np.zeros(0, np.int64))
    out = TagsToWeakLabel(num_classes=6)(
        LoadCAMs()(_results('cam_path', path, 2, 3)))
    np.testing.assert_array_equal(out['gt_weak_seg'], np.zeros((2, 3)))
    bad = tmp_path / 'bad.npz'
    np.savez(bad, cams=np.ones((1, 2, 3), np.float16), labels=np.array([6]))
    with pytest.raises(ValueError, match='bad.npz'):
        TagsToWeakLabel(num_classes=6)(
            LoadCAMs()(_results('cam_path', bad, 2, 3)))
    with pytest.raises(ValueError, match='unlabelled_index'):
        TagsToWeakLabel(num_classes=21, unlabelled_index=20)
    with pytest.raises(ValueError, match='unlabelled_index'):
        TagsToWeakLabel(num_classes=21, unlabelled_index=255)


# ---------------------------------------------------------------------------
# boxes
# ---------------------------------------------------------------------------
_XML = """<annotation><size><width>{w}</width><height>6</height>
<depth>3</depth></size>
<object><name>cat</name><difficult>1</difficult><bndbox><xmin>2</xmin>
<ymin>2</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object>
<object><name>{dog}</name><bndbox><xmin>5</xmin><ymin>3</ymin>
<xmax>7</xmax><ymax>4</ymax></bndbox></object>
</annotation>"""


def _box_file(tmp_path, w=8, dog='dog'):
    path = tmp_path / f'a_{w}_{dog}.xml'
    path.write_text(_XML.format(w=w, dog=dog))
    return path


def test_boxes_without_cams(tmp_path):
    # cat (8): rows 1-4, cols 1-4; dog (12): rows 2-3, cols 4-6 (0-based)
    xml = _box_file(tmp_path)
    out = LoadBoxWeakLabel(VOC)(_results('box_path', xml))
    expected = np.zeros((6, 8), np.uint8)
    expected[1:5, 1:5] = U
    expected[2:4, 4:7] = U
    np.testing.assert_array_equal(out['gt_weak_seg'], expected)
    assert out['seg_fields'] == ['gt_weak_seg']
    # the box-as-mask baseline: the smaller box (dog) wins the overlap
    out = LoadBoxWeakLabel(VOC, box_without_cams='box')(
        _results('box_path', xml))
    expected[1:5, 1:5] = 8
    expected[2:4, 4:7] = 12
    np.testing.assert_array_equal(out['gt_weak_seg'], expected)
    # the same boxes as COCO JSON (continuous [x, y, w, h])
    coco = dict(
        images=[dict(id=1, file_name='a.jpg', width=8, height=6)],
        annotations=[
            dict(image_id=1, category_id=17, bbox=[1, 1, 4, 4]),
            dict(image_id=1, category_id=18, bbox=[4.2, 2, 2.5, 1.9])
        ],
        categories=[dict(id=17, name='cat'), dict(id=18, name='dog')])
    js = tmp_path / 'boxes.json'
    js.write_text(json.dumps(coco))
    out = LoadBoxWeakLabel(VOC, box_without_cams='box', ann_file=str(js))(
        _results())
    np.testing.assert_array_equal(out['gt_weak_seg'], expected)


def test_boxes_with_cams(tmp_path):
    xml = _box_file(tmp_path)
    cam = np.zeros((6, 8), np.float16)
    cam[0, 0] = 1.0  # outside every box: background whatever the CAM
    cam[1:5, 1:5] = 0.25
    cam[2, 2], cam[2, 3] = 1.0, 0.625  # s = (A - .25) / .75 = 1 and 0.5
    cam[3, 2] = 0.5  # s = 1/3 < 0.5
    npz = tmp_path / 'a.npz'
    np.savez(npz, cams=cam[None], labels=np.array([8]))  # no CAM of dog
    res = LoadCAMs()(dict(_results('box_path', xml), cam_path=str(npz)))
    out = LoadBoxWeakLabel(VOC, threshold=0.5)(res)
    expected = np.array(
        [[0, 0, 0, 0, 0, 0, 0, 0],
         [0, U, U, U, U, 0, 0, 0],
         [0, U, 8, 8, U, U, U, 0],
         [0, U, U, U, U, U, U, 0],
         [0, U, U, U, U, 0, 0, 0],
         [0, 0, 0, 0, 0, 0, 0, 0]], np.uint8)
    np.testing.assert_array_equal(out['gt_weak_seg'], expected)
    assert 'cams' not in out


def test_box_file_errors(tmp_path):
    t = LoadBoxWeakLabel(VOC)
    with pytest.raises(ValueError, match=r'a_10_dog\.xml.*10x6.*8x6'):
        t(_results('box_path', _box_file(tmp_path, w=10)))
    with pytest.raises(ValueError, match=r'a_8_wolf\.xml.*wolf'):
        t(_results('box_path', _box_file(tmp_path, dog='wolf')))
    with pytest.raises(FileNotFoundError, match='nothere.xml'):
        t(_results('box_path', tmp_path / 'nothere.xml'))


# ---------------------------------------------------------------------------
# points and scribbles
# ---------------------------------------------------------------------------
def test_points_dilated_by_one(tmp_path):
    points = np.full((6, 8), 255, np.uint8)
    points[1, 1] = 5
    points[4, 6] = 0
    png = tmp_path / 'a.png'
    _palette_png(png, points)
    out = LoadPointWeakLabel(num_classes=21, radius=1)(
        _results('point_path', png))
    expected = np.array(
        [[U, 5, U, U, U, U, U, U],
         [5, 5, 5, U, U, U, U, U],
         [U, 5, U, U, U, U, U, U],
         [U, U, U, U, U, U, 0, U],
         [U, U, U, U, U, 0, 0, 0],
         [U, U, U, U, U, U, 0, U]], np.uint8)
    np.testing.assert_array_equal(out['gt_weak_seg'], expected)
    # the same points as text (label,x,y)
    txt = tmp_path / 'a.txt'
    txt.write_text('5,1,1\n0,6,4\n')
    out = LoadPointWeakLabel(num_classes=21, radius=1)(
        _results('point_path', txt))
    np.testing.assert_array_equal(out['gt_weak_seg'], expected)


def test_dilation_takes_the_nearest_label():
    label = np.full((1, 8), U, np.uint8)
    label[0, 1], label[0, 6] = 5, 9
    np.testing.assert_array_equal(
        dilate_labels(label, 2, U)[0], [5, 5, 5, 5, 9, 9, 9, 9])
    # no labelled pixel at all: stays all-unlabelled
    empty = np.full((3, 3), U, np.uint8)
    np.testing.assert_array_equal(dilate_labels(empty, 3, U), empty)


def test_scribble_polyline(tmp_path):
    # class 1: (x, y) (0,0) -> (3,0) -> (3,2); background: point (6, 4)
    txt = tmp_path / 'a_scribble.txt'
    txt.write_bytes(b'1,0,0,3,0,3,2\r\n0,6,4\r\n')
    raw = LoadScribbleWeakLabel(num_classes=21, radius=0)(
        _results('scribble_path', txt, 5, 7))['gt_weak_seg']
    np.testing.assert_array_equal(
        raw,
        [[1, 1, 1, 1, U, U, U],
         [U, U, U, 1, U, U, U],
         [U, U, U, 1, U, U, U],
         [U, U, U, U, U, U, U],
         [U, U, U, U, U, U, 0]])
    out = LoadScribbleWeakLabel(num_classes=21, radius=1)(
        _results('scribble_path', txt, 5, 7))
    np.testing.assert_array_equal(
        out['gt_weak_seg'],
        [[1, 1, 1, 1, 1, U, U],
         [1, 1, 1, 1, 1, U, U],
         [U, U, 1, 1, 1, U, U],
         [U, U, U, 1, U, U, 0],
         [U, U, U, U, U, 0, 0]])
    # a diagonal segment is a Bresenham line
    txt.write_text('2,0,0,2,2\n')
    raw = LoadScribbleWeakLabel(num_classes=21, radius=0)(
        _results('scribble_path', txt, 3, 3))['gt_weak_seg']
    np.testing.assert_array_equal(raw, [[2, U, U], [U, 2, U], [U, U, 2]])


def test_scribblesup_text_format(tmp_path):
    """The format of the real ScribbleSup files (ids like 2008_000003):
    CRLF line ends, one long stroke per line, repeated vertices, VOC
    classes with 0 = background."""
    lines = [
        '15,4,3,4,4,4,4,4,5,5,5,6,6', '19,1,8,5,8,10,8,14,9,18,9,19,9',
        '0,0,0,9,0,19,0,19,1,28,1,29,2,29,11'
    ]
    txt = tmp_path / '2008_000003_scribble.txt'
    txt.write_bytes(('\r\n'.join(lines) + '\r\n').encode())
    strokes = parse_scribble_text(txt.read_text(), str(txt))
    assert [s[0] for s in strokes] == [15, 19, 0]
    assert [len(s[1]) for s in strokes] == [6, 6, 7]
    out = LoadScribbleWeakLabel(num_classes=21, radius=0)(
        _results('scribble_path', txt, 12, 30))
    label = out['gt_weak_seg']
    assert set(np.unique(label)) == {0, 15, 19, U}
    for c, xy in strokes:  # every vertex carries its stroke's class
        assert (label[xy[:, 1], xy[:, 0]] == c).all()


def test_sparse_label_errors(tmp_path):
    txt = tmp_path / 'bad_scribble.txt'
    txt.write_text('3,1,1,2,2\n21,1,1,2,2\n')
    with pytest.raises(ValueError, match=r'bad_scribble\.txt.*stroke 2.*21'):
        LoadScribbleWeakLabel(num_classes=21)(
            _results('scribble_path', txt))
    txt.write_text('3,1,1,9,2\n')
    with pytest.raises(ValueError, match=r'bad_scribble\.txt.*outside'):
        LoadScribbleWeakLabel(num_classes=21)(
            _results('scribble_path', txt))
    txt.write_text('3,1,1,2\n')
    with pytest.raises(ValueError, match=r'bad_scribble\.txt, line 1'):
        LoadScribbleWeakLabel(num_classes=21)(
            _results('scribble_path', txt))
    png = tmp_path / 'p.png'
    _palette_png(png, np.full((6, 8), 7, np.uint8))
    with pytest.raises(ValueError, match=r'p\.png.*\[7\]'):
        LoadPointWeakLabel(num_classes=6)(_results('point_path', png))
    with pytest.raises(ValueError, match=r'p\.png is 8x6.*5x4'):
        LoadPointWeakLabel(num_classes=21)(
            _results('point_path', png, 4, 5))


def test_all_unlabelled_is_fine(tmp_path):
    png = tmp_path / 'none.png'
    _palette_png(png, np.full((6, 8), 255, np.uint8))
    out = LoadPointWeakLabel(num_classes=21)(_results('point_path', png))
    assert (out['gt_weak_seg'] == U).all()
    txt = tmp_path / 'empty_scribble.txt'
    txt.write_text('\r\n')
    out = LoadScribbleWeakLabel(num_classes=21)(
        _results('scribble_path', txt))
    assert (out['gt_weak_seg'] == U).all()


# ---------------------------------------------------------------------------
# region maps
# ---------------------------------------------------------------------------
def test_region_map_loading_and_errors(tmp_path):
    regions = np.arange(48).reshape(6, 8) * 1000  # 16-bit ids
    png = tmp_path / 'a.png'
    png.write_bytes(encode_region_png(regions))
    out = LoadRegionMap()(_results('region_path', png))
    assert out['gt_region_map'].dtype == np.int32
    np.testing.assert_array_equal(out['gt_region_map'], regions)
    assert out['seg_fields'] == ['gt_region_map']
    big = np.array([[0, 70000], [1, 2]])  # more than 16 bits: RGB
    png.write_bytes(encode_region_png(big))
    out = LoadRegionMap()(_results('region_path', png, 2, 2))
    np.testing.assert_array_equal(out['gt_region_map'], big)
    missing = tmp_path / 'regions' / 'b.png'
    with pytest.raises(FileNotFoundError, match=r'regions/b\.png'):
        LoadRegionMap()(_results('region_path', missing))
    with pytest.raises(ValueError, match=r'a\.png is 2x2'):
        LoadRegionMap()(_results('region_path', png))


# ---------------------------------------------------------------------------
# the three values through mmseg's transforms
# ---------------------------------------------------------------------------
def test_three_values_survive_resize_crop_flip_rotate():
    """mmseg's RandomResize (nearest), RandomCrop, RandomFlip and
    RandomRotate (padding 255) move the weak label and the region map with
    the image: the image's channels carry the weak label, the region id and
    a "part of the image" flag, so alignment is checked pixel by pixel."""
    weak = np.array([[0, 0, 3, 3, U, U],
                     [0, 3, 3, 3, U, U],
                     [0, 0, U, 3, 3, 0],
                     [U, 0, 0, 0, 3, 0]], np.uint8)
    region = np.arange(24, dtype=np.int32).reshape(4, 6)
    img = np.stack([weak, region.astype(np.uint8), np.ones_like(weak)], -1)
    with DefaultScope.overwrite_default_scope('mmseg'):
        pipeline = Compose([
            TRANSFORMS.build(cfg) for cfg in [
                dict(
                    type='RandomResize',
                    scale=(12, 8),
                    ratio_range=(1., 1.),
                    keep_ratio=False,
                    interpolation='nearest'),
                dict(type='RandomCrop', crop_size=(6, 10)),
                dict(type='RandomFlip', prob=1., direction='horizontal'),
                dict(
                    type='RandomRotate',
                    prob=1.,
                    degree=(90, 90),
                    pad_val=0,
                    seg_pad_val=255),
                dict(
                    type='PackWSSSInputs',
                    pixel_keys=('gt_weak_seg', 'gt_region_map')),
            ]
        ])
        for seed in range(3):  # several crop offsets
            np.random.seed(seed)
            out = pipeline(
                dict(
                    img=img.copy(),
                    img_shape=(4, 6),
                    ori_shape=(4, 6),
                    gt_weak_seg=weak.copy(),
                    gt_region_map=region.copy(),
                    seg_fields=['gt_weak_seg', 'gt_region_map'],
                    gt_score=np.zeros(5, np.float32),
                    img_path='a.jpg'))
            inputs = out['inputs'].numpy()  # (3, 6, 10)
            sample = out['data_samples']
            got = sample.gt_weak_seg.data[0].numpy()
            reg = sample.gt_region_map.data[0].numpy()
            assert got.dtype == np.uint8 and got.shape == (6, 10)
            inside = inputs[2] == 1
            # rotating a 6x10 crop by 90 degrees leaves 2 columns per side
            # outside the image
            assert (~inside[:, [0, 1, 8, 9]]).all()
            assert inside[:, 2:8].all()
            np.testing.assert_array_equal(got[~inside], P)
            np.testing.assert_array_equal(got[inside], inputs[0][inside])
            np.testing.assert_array_equal(reg[inside], inputs[1][inside])
            assert set(np.unique(got)) <= {0, 3, U, P}
            assert {U, P} <= set(np.unique(got))


def test_weak_label_as_gt_seg_map_is_padded_by_mmseg():
    """With key='gt_seg_map' mmcv's Pad and the SegDataPreProcessor pad the
    weak label with 255 and keep 254; an extra key (gt_weak_seg) is padded
    by neither (documented: the model pads it)."""
    weak = np.array([[0, 3, U], [U, 3, 0]], np.uint8)
    with DefaultScope.overwrite_default_scope('mmseg'):
        pipeline = Compose([
            TRANSFORMS.build(dict(type='RandomCrop', crop_size=(4, 4))),
            TRANSFORMS.build(dict(type='Pad', size=(4, 3))),
            TRANSFORMS.build(
                dict(type='PackWSSSInputs', pixel_keys=('gt_weak_seg', ))),
        ])
        out = pipeline(
            dict(
                img=np.zeros((2, 3, 3), np.uint8),
                img_shape=(2, 3),
                ori_shape=(2, 3),
                gt_seg_map=weak.copy(),
                gt_weak_seg=weak.copy(),
                seg_fields=['gt_seg_map', 'gt_weak_seg'],
                gt_score=np.zeros(5, np.float32),
                reduce_zero_label=False,
                img_path='a.jpg'))
        pre = MODELS.build(
            dict(type='SegDataPreProcessor', size=(4, 5), seg_pad_val=255))
    sample = out['data_samples']
    assert tuple(sample.gt_weak_seg.shape) == (2, 3)  # not padded by Pad
    batch = pre(dict(inputs=[out['inputs']], data_samples=[sample]), True)
    np.testing.assert_array_equal(
        batch['data_samples'][0].gt_sem_seg.data[0].numpy(),
        [[0, 3, U, P, P], [U, 3, 0, P, P], [P] * 5, [P] * 5])


def test_dataset_pipeline_with_data_prefix(tmp_path):
    """The files come from a dataset's data_prefix folders (suffixes per
    key), as in a config."""
    from mmwsss.datasets import WSSSFolderDataset
    root = tmp_path / 'data'
    for sub in ('images', 'scribbles', 'regions'):
        (root / sub).mkdir(parents=True)
    Image.fromarray(np.zeros((6, 8, 3), np.uint8)).save(
        root / 'images' / 'a.jpg')
    (root / 'scribbles' / 'a_scribble.txt').write_text('1,1,1,5,1\n0,7,5\n')
    (root / 'regions' / 'a.png').write_bytes(
        encode_region_png(np.repeat([[0] * 4 + [1] * 4], 6, axis=0)))
    (root / 'labels.txt').write_text('a 1\n')
    with DefaultScope.overwrite_default_scope('mmseg'):
        dataset = WSSSFolderDataset(
            data_root=str(root),
            data_prefix=dict(
                img_path='images',
                scribble_path='scribbles',
                region_path='regions'),
            file_suffixes=dict(scribble_path='_scribble.txt'),
            metainfo=dict(classes=('background', 'cat')),
            pipeline=[
                dict(type='LoadImageFromFile'),
                dict(type='LoadScribbleWeakLabel', num_classes=2, radius=0),
                dict(type='LoadRegionMap'),
                dict(type='RandomFlip', prob=1., direction='horizontal'),
                dict(
                    type='PackWSSSInputs',
                    pixel_keys=('gt_weak_seg', 'gt_region_map'))
            ])
        sample = dataset[0]['data_samples']
    weak = sample.gt_weak_seg.data[0].numpy()
    expected = np.full((6, 8), U, np.uint8)
    expected[1, 1:6] = 1
    expected[5, 7] = 0
    np.testing.assert_array_equal(weak, expected[:, ::-1])
    np.testing.assert_array_equal(sample.gt_region_map.data[0, 0].numpy(),
                                  [1] * 4 + [0] * 4)


def test_synthetic_set_files(tmp_path):
    """The boxes, points and scribbles the synthetic set writes are read
    as they are: every object pixel lies in a box of the XML (1-based
    coordinates), the point and scribble PNGs keep their labels."""
    from mmwsss.datasets.synthetic import (SYNTHETIC_CLASSES,
                                           generate_synthetic_wsss)
    root = generate_synthetic_wsss(
        str(tmp_path / 'syn'), num_train=4, num_val=1, image_size=32)
    boxes = LoadBoxWeakLabel(SYNTHETIC_CLASSES)
    points = LoadPointWeakLabel(num_classes=6, radius=0)
    scribbles = LoadScribbleWeakLabel(num_classes=6, radius=0)
    for i in range(5):
        name = f'syn_{i:06d}'
        gt = np.asarray(Image.open(f'{root}/SegmentationClass/{name}.png'))
        res = dict(
            _results(h=32, w=32),
            box_path=f'{root}/Annotations/{name}.xml',
            point_path=f'{root}/Points/{name}.png',
            scribble_path=f'{root}/Scribbles/{name}.png')
        box = boxes(dict(res))['gt_weak_seg']
        fg = (gt > 0) & (gt < 255)
        assert (box[fg] == U).all()  # inside a box, no CAMs: unlabelled
        assert set(np.unique(box)) <= {0, U}
        for key, t in (('Points', points), ('Scribbles', scribbles)):
            raw = np.asarray(Image.open(f'{root}/{key}/{name}.png'))
            expected = np.where(raw == 255, U, raw)
            np.testing.assert_array_equal(t(dict(res))['gt_weak_seg'],
                                          expected)
