"""Print how far today's DAN / QCS / DCS numbers are from the recorded reference.

    python tests/data/regression/compare.py

Loads the recorded weights into today's models exactly as
``tests/test_models/test_classifiers/test_regression.py`` does (its ``RENAMES`` and
``today_cfg``) and prints the max absolute difference of every loss term, of the per-parameter
gradient norms and of the eval logits (the test asserts them to 1e-6).
"""
import importlib.util
import os.path as osp

import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def main():
    spec = importlib.util.spec_from_file_location(
        'mmfer_regression_test',
        osp.join(ROOT, 'tests', 'test_models', 'test_classifiers', 'test_regression.py'))
    test = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(test)
    from mmengine.registry import init_default_scope

    from mmfer.registry import MODELS
    from mmfer.utils.checkpoint import safe_torch_load
    init_default_scope('mmfer')
    torch.set_num_threads(1)
    ref = safe_torch_load(osp.join(test.REF_DIR, 'dan_qcs_reference.pt'))
    for name in ('dan', 'qcs', 'dcs'):
        r = ref[name]
        model = MODELS.build(test.today_cfg(name))
        model.load_state_dict({test.rename(k): v for k, v in r['state_dict'].items()})
        losses, grads, logits = test.ref_mod.run(model, r['inputs'], r['y'], r['y_neg'],
                                                 r['test_inputs'])
        loss_diff = {k: float((losses[k] - v).abs()) for k, v in r['losses'].items()}
        grad_diff = max(float((grads[test.rename(k)] - v).abs()) for k, v in r['grads'].items())
        print(f'{name}: losses {loss_diff}, gradient norms max {grad_diff}, '
              f'logits max {float((logits - r["logits"]).abs().max())}')


if __name__ == '__main__':
    main()
