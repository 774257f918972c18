# RPNet -> IRN -> DeepLab-v2 on the embedded synthetic set (CPU), the
# paper's chain at the CPU budget:
#   python tools/run_pipeline.py configs/pipelines/pipeline_rpnet-irn-deeplabv2_synthetic.py
# classifier (RPNet, groups of a query and one reference) -> pseudo_masks
# (the CAM path, no reference) -> refinement_train (IRN's boundary head on
# the classifier's frozen backbone) -> refinement (IRN's walk of the saved
# CAMs) -> segmentation -> val mIoU. The graph: ./_base_/irn-deeplabv2.py.
_base_ = ['./_base_/irn-deeplabv2.py']
configs = dict(
    classifier='../rpnet/rpnet_r18w32-d8_1xb16-600_synthetic-96x96.py',
    refiner='../irn/irn_r18w32-d8_1xb16-600_synthetic-96x96.py',
    segmentation='../deeplabv2/deeplabv2_r18w32-d8_1xb16-600_synthetic-96x96.py')
stages = dict(
    refinement_train=dict(
        inputs={'model.backbone.init_cfg.checkpoint': 'classifier.checkpoint'}))
