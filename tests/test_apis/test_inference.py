import os.path as osp

import cv2
import numpy as np
import torch
from mmengine.config import Config

from mmfer.apis.inference import inference_model, init_model
from mmfer.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(ROOT, 'tests', 'data', 'configs', 'tiny_synthfer.py')


def test_names_come_from_the_checkpoint(tmp_path):
    cfg = Config.fromfile(CFG)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    classes = ['c%d' % i for i in range(7)]
    ckpt = dict(state_dict=model.state_dict(),
                meta=dict(classes=classes, input_cfg=dict(test_pipeline=[
                    dict(type='LoadFERImage'), dict(type='Resize', scale=(32, 32)),
                    dict(type='PackInputs')])))
    path = tmp_path / 'm.pth'
    torch.save(ckpt, path)
    loaded = init_model(CFG, str(path))
    assert loaded.classes == classes
    img = (np.random.RandomState(0).rand(48, 40, 3) * 255).astype(np.uint8)
    res = inference_model(loaded, [img, img[..., 0]])
    assert len(res) == 2
    for r in res:
        assert len(r['scores']) == 7
        assert abs(sum(r['scores']) - 1) < 1e-5
        assert r['pred_class'] == classes[r['pred_label']]
        assert r['pred_score'] == max(r['scores'])
    # the scores equal a direct forward of the resized image (the pipeline of the checkpoint)
    chw = torch.from_numpy(np.ascontiguousarray(cv2.resize(img, (32, 32)).transpose(2, 0, 1)))
    x = loaded.data_preprocessor(dict(inputs=[chw], data_samples=None), False)['inputs']
    torch.testing.assert_close(loaded(x, mode='tensor').softmax(1)[0],
                               torch.tensor(res[0]['scores']), atol=1e-5, rtol=1e-4)
