# The CAM baseline refined by IRN (IRN's own chain) on the embedded
# synthetic set (CPU):
#   python tools/run_pipeline.py configs/pipelines/pipeline_cam-irn-deeplabv2_synthetic.py
# The graph: ./_base_/irn-deeplabv2.py; IRN's frozen backbone is the CAM
# classifier's.
_base_ = ['./_base_/irn-deeplabv2.py']
configs = dict(
    classifier='../cam/cam_r18w32-d8_1xb16-600_synthetic-96x96.py',
    refiner='../irn/irn_r18w32-d8_1xb16-600_synthetic-96x96.py',
    segmentation='../deeplabv2/deeplabv2_r18w32-d8_1xb16-600_synthetic-96x96.py')
stages = dict(
    refinement_train=dict(
        inputs={'model.backbone.init_cfg.checkpoint': 'classifier.checkpoint'}))
