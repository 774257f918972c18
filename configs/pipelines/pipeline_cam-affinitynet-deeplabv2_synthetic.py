# The plain CAM baseline refined by AffinityNet (PSA's original chain);
# AffinityNet refines the CAMs of any method, not only EPS's:
#   python tools/run_pipeline.py \
#       configs/pipelines/pipeline_cam-affinitynet-deeplabv2_synthetic.py
# The graph: ./_base_/affinitynet-deeplabv2.py.
_base_ = ['./_base_/affinitynet-deeplabv2.py']
configs = dict(
    classifier='../cam/cam_r18w32-d8_1xb16-600_synthetic-96x96.py',
    refiner='../affinitynet/affinitynet_r18w32-d8_1xb16-600_synthetic-96x96.py',
    segmentation='../deeplabv2/deeplabv2_r18w32-d8_1xb16-600_synthetic-96x96.py')
