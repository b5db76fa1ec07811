# Copyright 2026 The adaptive_depth Authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""Tests of the held-out calibration of the reported std of log s (``std_scale``)."""

from dataclasses import replace
import json

from adaptive_depth.oracle_dataset import OracleData
from adaptive_depth.scale_net import (load_scale_net, ScaleNet, ScaleNetConfig,
                                      ScalePredictor)
from adaptive_depth.training import fit_std_scale, train_scale_net, TrainConfig
import numpy as np
import pytest
import torch


def _oracle(n=48, seed=0):
    """Toy images: a bright square whose size sets log s, plus noise the image cannot show."""
    rng = np.random.default_rng(seed)
    size = rng.uniform(0.2, 0.9, n)
    images = np.full((n, 240, 320, 3), 30, np.uint8)
    for i, f in enumerate(size):
        h, w = int(240 * f), int(320 * f)
        images[i, (240 - h) // 2:(240 + h) // 2, (320 - w) // 2:(320 + w) // 2] = 220
    log_s = np.log(size) + rng.normal(0.0, 0.1, n)
    return OracleData(names=[f'toy/{i}' for i in range(n)], scales=np.exp(log_s),
                      log_scales=log_s, w1=np.zeros(n), n_valid=np.full(n, 100),
                      kept=np.ones(n, bool), images=images,
                      meta={'base_model': {'name': 'toy', 'simulated': True}})


def _cfg(**kw):
    base = {'epochs': 6, 'batch_size': 12, 'lr': 3e-3, 'val_fraction': 0.25, 'val_every': 3,
            'checkpoint_every': 0, 'device': 'cpu', 'input_size': (32, 32),
            'net_options': {'channels': (4, 8, 8), 'fc': (8,), 'dropout': 0.0,
                            'predict_variance': True}}
    base.update(kw)
    return TrainConfig(**base)


def test_fit_std_scale_is_the_rms_of_the_standardised_errors():
    torch.manual_seed(0)
    net = ScaleNet(ScaleNetConfig(input_size=(32, 32), channels=(4, 8), fc=(8,),
                                  predict_variance=True, test_time_flip=True))
    oracle = _oracle(n=20)
    predictor = ScalePredictor(net, device='cpu')
    est = predictor.estimate(oracle.images)
    # The batched estimate over stored copies is the same as the one-call estimate.
    log_s, std = predictor.estimate_copies(oracle.images, batch=7)
    np.testing.assert_allclose(log_s, est.log_scale, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std, est.log_scale_std, rtol=1e-5)
    z = (log_s - oracle.log_scales) / std
    factor = fit_std_scale(log_s, std, oracle.log_scales)
    assert factor == pytest.approx(float(np.sqrt(np.mean(z ** 2))), rel=1e-9)
    # The fitted factor rescales the std to the size of the errors and keeps its ranking.
    scaled = ScalePredictor(net, replace(net.config, std_scale=factor), 'cpu')
    est2 = scaled.estimate(oracle.images)
    np.testing.assert_allclose(est2.log_scale_std, est.log_scale_std * factor, rtol=1e-5)
    z2 = (est2.log_scale - oracle.log_scales) / est2.log_scale_std
    assert float(np.mean(z2 ** 2)) == pytest.approx(1.0, rel=1e-4)
    # No uncertainty source (std 0) or no rows: nothing to fit.
    plain = ScalePredictor(ScaleNet(ScaleNetConfig(input_size=(32, 32), channels=(4, 8))))
    assert fit_std_scale(*plain.estimate_copies(oracle.images), oracle.log_scales) is None
    assert fit_std_scale(log_s[:0], std[:0], oracle.log_scales[:0]) is None
    with pytest.raises(ValueError, match='std_scale'):
        ScaleNetConfig(std_scale=0.0)


def test_training_saves_the_std_scale_fitted_on_the_validation_split(tmp_path):
    oracle = _oracle()
    result = train_scale_net(oracle, _cfg(), tmp_path / 'run', progress=False)
    _, cfg = load_scale_net(result.best_dir)
    assert result.std_scale is not None and result.std_scale != pytest.approx(1.0, abs=0.05)
    assert cfg.std_scale == pytest.approx(result.std_scale)
    history = json.loads((tmp_path / 'run' / 'history.json').read_text())
    assert history['std_scale'] == pytest.approx(result.std_scale)
    # On the validation rows the saved std has the size of the errors.
    val = np.array([oracle.names.index(n) for n in result.val_names])
    est = ScalePredictor.from_checkpoint(result.best_dir).estimate(oracle.images[val])
    z = (est.log_scale - oracle.log_scales[val]) / est.log_scale_std
    assert float(np.mean(z ** 2)) == pytest.approx(1.0, rel=1e-3)
    # last/ stays as trained, so the run can be resumed with the same options.
    assert load_scale_net(result.last_dir)[1].std_scale == 1.0
    resumed = train_scale_net(oracle, _cfg(epochs=7), tmp_path / 'run', resume=True,
                              progress=False)
    assert len(resumed.history) == 7 and resumed.std_scale is not None
    # Without a validation split nothing is fitted.
    none = train_scale_net(oracle, _cfg(val_fraction=0.0), tmp_path / 'noval', progress=False)
    assert none.std_scale is None and load_scale_net(none.best_dir)[1].std_scale == 1.0
