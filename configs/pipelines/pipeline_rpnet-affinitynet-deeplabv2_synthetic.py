# RPNet refined by AffinityNet instead of IRN (refiners are
# interchangeable) on the embedded synthetic set (CPU):
#   python tools/run_pipeline.py configs/pipelines/pipeline_rpnet-affinitynet-deeplabv2_synthetic.py
# The graph: ./_base_/affinitynet-deeplabv2.py.
_base_ = ['./_base_/affinitynet-deeplabv2.py']
configs = dict(
    classifier='../rpnet/rpnet_r18w32-d8_1xb16-600_synthetic-96x96.py',
    refiner='../affinitynet/affinitynet_r18w32-d8_1xb16-600_synthetic-96x96.py',
    segmentation='../deeplabv2/deeplabv2_r18w32-d8_1xb16-600_synthetic-96x96.py')
