# The rows of ./pseudo_mask_comparison_synthetic.py without AffinityNet's
# stages (CAM, class patterns c32 / c41 / c42, EPS): the same graph with the
# refiner stages removed, for machines where three seeds of the refiner do
# not fit. Run into the same work dir, its finished stages are reused by the
# full graph, which then runs only the refiner stages:
#   python benchmarks/seed_runs.py benchmarks/configs/pseudo_mask_comparison_synthetic_no-refiner.py \
#       --seeds 0 1 2 --work-dir work_dirs/seed_runs/pseudo_mask_comparison_synthetic \
#       --out benchmarks/results/pseudo_mask_comparison_synthetic_no-refiner.json
_base_ = ['./pseudo_mask_comparison_synthetic.py']
stages = dict(
    cam_affinitynet_train=None,
    cam_affinitynet=None,
    eps_affinitynet_train=None,
    eps_affinitynet=None)
