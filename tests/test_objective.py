"""Clustered adversarial loss, k-means, and the UDA baselines' losses by hand."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import tiny_config
from vda_jax.adversarial import clustering, terms
from vda_jax.adversarial.losses import (
  clustered_domain_loss,
  conditional_features,
  domain_loss,
  entropy_loss,
)
from vda_jax.adversarial.objective import Objective
from vda_jax.adversarial.terms import TermInputs

sp = lambda z: np.log1p(np.exp(z))  # softplus


def test_kmeans_ema_update_by_hand():
  centroids = jnp.array([[0., 0.], [10., 10.], [5., -5.]])
  x = jnp.array([[1., 0.], [0., 1.], [9., 9.]])
  labels = clustering.assign(x, centroids)
  np.testing.assert_array_equal(labels, [0, 0, 1])
  new = clustering.ema_update(centroids, x, labels, momentum=0.5)
  # cluster 0: mean (0.5, 0.5) -> 0.5*(0,0) + 0.5*(0.5,0.5); cluster 1: mean (9, 9);
  # cluster 2 got nothing and keeps its centroid.
  np.testing.assert_allclose(new, [[0.25, 0.25], [9.5, 9.5], [5., -5.]])
  np.testing.assert_allclose(clustering.occupancy(labels, 3), [2 / 3, 1 / 3, 0])


def test_farthest_point_init_is_deterministic_by_hand():
  x = jnp.array([[0., 0.], [1., 0.], [10., 0.], [0., 4.]])
  # mean (2.75, 1): nearest row is (1, 0); farthest from it (10, 0); then the row
  # farthest from both picks: (0, 4) (min distance 17 vs 1 for (0, 0)).
  np.testing.assert_allclose(clustering.farthest_point_init(x, 3), [[1., 0.], [10., 0.], [0., 4.]])


def test_prepare_normalises_rows():
  x = clustering.prepare(jnp.array([[[3., 4.]], [[0., 2.]]]), normalize=True)
  np.testing.assert_allclose(x, [[0.6, 0.8], [0., 1.]])


def test_clustered_loss_masks_one_sided_and_empty_clusters():
  image = jnp.array([0.5, -1.0, 2.0])
  video = jnp.array([1.5, 0.3])
  # cluster 0: images 0.5, -1.0 and video 1.5; cluster 1: image 2.0 only;
  # cluster 2: video 0.3 only; cluster 3: empty. Only cluster 0 counts.
  loss, acc = clustered_domain_loss(image, video, jnp.array([0, 0, 1]), jnp.array([0, 2]), 4)
  expected = 0.5 * ((sp(0.5) + sp(-1.0)) / 2 + sp(-1.5))
  assert float(loss) == pytest.approx(expected, rel=1e-6)
  assert float(acc) == pytest.approx(0.5 * (0.5 + 1.0))
  # No cluster holding both domains: zero loss and zero gradient, no NaN.
  f = lambda i: clustered_domain_loss(i, video, jnp.array([1, 1, 1]), jnp.array([0, 2]), 4)[0]
  assert float(f(image)) == 0.0
  np.testing.assert_array_equal(jax.grad(f)(image), 0.0)


def test_clustered_loss_with_one_cluster_is_the_global_loss():
  rng = np.random.default_rng(0)
  image, video = jnp.asarray(rng.normal(size=(2, 4, 4))), jnp.asarray(rng.normal(size=(3, 4, 4)))
  one = lambda i, v: clustered_domain_loss(i, v, jnp.zeros(i.shape, int),
                                          jnp.zeros(v.shape, int), 1)
  for a, b in zip(one(image, video), domain_loss(image, video)):
    assert float(a) == pytest.approx(float(b), rel=1e-6)
  gi, gv = jax.grad(lambda i, v: one(i, v)[0], (0, 1))(image, video)
  hi, hv = jax.grad(lambda i, v: domain_loss(i, v)[0], (0, 1))(image, video)
  np.testing.assert_allclose(gi, hi, rtol=1e-6)
  np.testing.assert_allclose(gv, hv, rtol=1e-6)


def _shapes(**taps):
  return {k: jax.ShapeDtypeStruct(v, jnp.float32) for k, v in taps.items()}


def _run(objective, params, state, fi, fv, li=None, lv=None, labels=None, lam=1.0,
         first_step=False):
  return objective(params, state, TermInputs(fi, fv, li, lv, labels, lam, first_step))


def test_clustered_term_with_one_cluster_equals_the_global_term_in_the_network():
  rng = np.random.default_rng(1)
  fi, fv = (jnp.asarray(rng.normal(size=s), jnp.float32) for s in [(2, 3, 3, 4), (4, 3, 3, 4)])
  glob = Objective((terms.GlobalDomain({'stem': 1.0}, depth=0),))   # logit = w.x + b
  clus = Objective((terms.ClusteredDomain({'stem': 1.0}, depth=0, num_clusters=1),))
  params, _ = glob.init(jax.random.key(0), _shapes(stem=(1, 3, 3, 4)), 5)
  cparams = {'disc': {'clustered': params['disc']['global']}}
  zeros = jnp.zeros((1, 4))

  def total(objective, p, fi, fv):
    return _run(objective, p, {'stem': zeros}, {'stem': fi}, {'stem': fv}, lam=0.5,
                first_step=True)[0]
  expected = float(total(glob, params, fi, fv))
  assert float(total(clus, cparams, fi, fv)) == pytest.approx(expected, rel=1e-6)
  g1 = jax.grad(total, (2, 3))(glob, params, fi, fv)
  g2 = jax.grad(total, (2, 3))(clus, cparams, fi, fv)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), g1, g2)


def test_per_cluster_and_conditioned_discriminators_by_hand():
  # Two 1-D clusters: features near -1 and near +1, both domains in each.
  fi = jnp.array([[-1.0], [1.0]])
  fv = jnp.array([[-0.9], [1.1]])
  centroids = jnp.array([[-1.0], [1.0]])
  for mode in ('per_cluster', 'conditioned'):
    obj = Objective((terms.ClusteredDomain({'f': 1.0}, depth=0, num_clusters=2, mode=mode,
                                           normalize=False, momentum=0.5),))
    params, _ = obj.init(jax.random.key(0), _shapes(f=(1, 1)), 5)
    if mode == 'per_cluster':  # logit_k = w_k * x + b_k
      w, b = np.array([2.0, -1.0]), np.array([0.1, 0.3])
      params['disc']['clustered']['f'] = {
          'Dense_0': {'kernel': jnp.asarray([w]), 'bias': jnp.asarray(b)}}
      logit = lambda x, k: w[k] * x + b[k]
    else:  # logit = w0 * x + w1 * [k == 0] + w2 * [k == 1] + b
      w = np.array([2.0, 0.5, -0.7])
      params['disc']['clustered']['f'] = {'Dense_0': {'kernel': jnp.asarray(w[:, None]),
                                                      'bias': jnp.array([0.1])}}
      logit = lambda x, k: w[0] * x + w[1 + k] + 0.1
    total, metrics, new = _run(obj, params, {'f': centroids}, {'f': fi}, {'f': fv})
    per = [0.5 * (sp(logit(-1.0, 0)) + sp(-logit(-0.9, 0))),
           0.5 * (sp(logit(1.0, 1)) + sp(-logit(1.1, 1)))]
    assert float(total) == pytest.approx(np.mean(per), rel=1e-5), mode
    assert float(metrics['clusters/f/image/0']) == 0.5
    assert int(metrics['clusters_both/f']) == 2
    np.testing.assert_allclose(new['f'], [[-0.5 * 1.0 - 0.5 * 0.95], [0.5 + 0.5 * 1.05]], rtol=1e-6)


def test_first_step_seeds_centroids_from_the_batch_and_counts_two_domain_clusters():
  obj = Objective((terms.ClusteredDomain({'f': 1.0}, num_clusters=2, normalize=False,
                                         momentum=0.0),))
  params, clusters = obj.init(jax.random.key(0), _shapes(f=(1, 1)), 5)
  fi, fv = jnp.array([[0.0], [0.2]]), jnp.array([[5.0], [5.4]])
  total, metrics, new = _run(obj, params, clusters, {'f': fi}, {'f': fv}, first_step=True)
  # Seeds: the row nearest the mean 2.65 is 5.0, then the farthest from it, 0.0;
  # with momentum 0 the centroids become the means of their clusters.
  np.testing.assert_allclose(new['f'], [[5.2], [0.1]], rtol=1e-6)
  # k-means split the domains: no cluster holds both, so the term is silently zero.
  assert int(metrics['clusters_both/f']) == 0 and float(total) == 0.0


def test_entropy_loss_by_hand():
  logits = jnp.log(jnp.array([[0.5, 0.25, 0.25], [1 / 3, 1 / 3, 1 / 3]]))
  h = -(0.5 * np.log(0.5) + 2 * 0.25 * np.log(0.25))
  assert float(entropy_loss(logits)) == pytest.approx((h / np.log(3) + 1.0) / 2, rel=1e-6)


def test_cdan_input_is_the_outer_product_with_resized_predictions():
  feats = jnp.arange(1.0, 5.0).reshape(1, 1, 2, 2)            # 1x2 grid, 2 channels
  # (1, 2, 2, 2)
  logits = jnp.log(jnp.array([[[[0.2, 0.8], [0.2, 0.8]], [[0.6, 0.4], [0.6, 0.4]]]]))
  joint = conditional_features(feats, logits)
  # 2x2 predictions average down to the 1x2 grid: column 0 -> (0.4, 0.6), column 1 same.
  np.testing.assert_allclose(joint[0, 0, 0], [1 * 0.4, 1 * 0.6, 2 * 0.4, 2 * 0.6], rtol=1e-5)
  np.testing.assert_allclose(joint[0, 0, 1], [3 * 0.4, 3 * 0.6, 4 * 0.4, 4 * 0.6], rtol=1e-5)
  # A static clip's frames share the image's prediction.
  assert conditional_features(jnp.ones((1, 3, 1, 2, 2)), logits).shape == (1, 3, 1, 2, 4)


def test_output_space_term_feeds_probabilities_and_minent_adds_entropy():
  obj = Objective((terms.OutputSpace({'logits': 1.0}, depth=0), terms.Entropy(0.5)))
  params, _ = obj.init(jax.random.key(0), _shapes(logits=(1, 1, 1, 2)), 2)
  w, b = np.array([1.5, -2.0]), 0.2
  params['disc']['global']['logits'] = {
      'Dense_0': {'kernel': jnp.asarray(w[:, None]), 'bias': jnp.array([b])}}
  li, lv = jnp.array([[[[2.0, 0.0]]]]), jnp.array([[[[0.0, 1.0]]]])
  total, metrics, _ = _run(obj, params, {}, {'logits': li}, {'logits': lv}, li, lv)
  soft = lambda z: np.exp(z) / np.exp(z).sum()
  pi, pv = soft(np.array([2.0, 0.0])), soft(np.array([0.0, 1.0]))
  adv = 0.5 * (sp(pi @ w + b) + sp(-(pv @ w + b)))
  ent = -(pv * np.log(pv)).sum() / np.log(2)
  assert float(metrics['domain_loss/logits']) == pytest.approx(adv, rel=1e-5)
  assert float(metrics['entropy_loss']) == pytest.approx(ent, rel=1e-5)
  assert float(total) == pytest.approx(adv + 0.5 * ent, rel=1e-5)


def test_adaptsegnet_aux_head_is_supervised_and_feeds_the_aux_logits_tap():
  obj = Objective((terms.OutputSpace({'aux_logits': 1.0}, depth=0, aux_tap='stage3',
                                     aux_weight=0.1),))
  params, _ = obj.init(jax.random.key(0), _shapes(stage3=(1, 1, 1, 3)), 2)
  k = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
  params['aux'] = {'kernel': jnp.asarray(k), 'bias': jnp.zeros(2)}
  f = jnp.array([[[[1.0, 0.0, 2.0]]]])        # one 1x1 feature -> aux logits (2, 1)
  labels = jnp.zeros((1, 2, 2), jnp.uint8)     # upsampled to the 2x2 label grid: all class 0
  _, metrics, _ = _run(obj, params, {}, {'stage3': f}, {'stage3': f}, labels=labels)
  assert float(metrics['aux_sup_loss']) == pytest.approx(np.log1p(np.exp(-1.0)), rel=1e-5)
  assert 'domain_loss/aux_logits' in metrics


def test_conv_discriminator_by_hand_and_it_sees_layout():
  from vda_jax.adversarial.discriminators import ConvDiscriminator, PixelDiscriminator
  x = jnp.arange(16.0).reshape(1, 4, 4, 1) / 16
  disc = ConvDiscriminator(width=1, depth=0)   # one 4x4 stride-2 conv to a logit per cell
  kernel = jnp.arange(16.0).reshape(4, 4, 1, 1) / 10
  params = {'Conv_0': {'kernel': kernel, 'bias': jnp.array([0.3])}}
  out = disc.apply({'params': params}, x)
  # SAME padding with stride 2 on 4 px pads one row/column before and after:
  # the cell (i, j) reads input rows 2i-1 .. 2i+2 and columns 2j-1 .. 2j+2.
  xp = np.pad(np.asarray(x[0, :, :, 0]), 1)
  k = np.asarray(kernel[:, :, 0, 0])
  expected = [[np.sum(xp[2 * i:2 * i + 4, 2 * j:2 * j + 4] * k) + 0.3 for j in range(2)]
              for i in range(2)]
  np.testing.assert_allclose(out[0], expected, rtol=1e-5)
  # Clip frames fold into the batch; each of depth + 1 layers halves the grid.
  deep = ConvDiscriminator(width=4, depth=2)
  v = deep.init(jax.random.key(0), jnp.zeros((1, 8, 8, 3)))
  assert deep.apply(v, jnp.zeros((2, 3, 16, 16, 3))).shape == (2, 3, 2, 2)
  # The per-pixel discriminator's loss ignores where a pixel is; the conv one's does not.
  rng = np.random.default_rng(0)
  maps, perm = jnp.asarray(rng.uniform(size=(2, 16, 16, 3))), rng.permutation(256)
  shuffled = maps.reshape(2, 256, 3)[:, perm].reshape(2, 16, 16, 3)
  pixel = PixelDiscriminator(8)
  pv = pixel.init(jax.random.key(1), maps)
  loss = lambda d, v, m: float(domain_loss(d.apply(v, m[:1]), d.apply(v, m[1:]))[0])
  assert loss(pixel, pv, maps) == pytest.approx(loss(pixel, pv, shuffled), rel=1e-5)
  assert abs(loss(deep, v, maps) - loss(deep, v, shuffled)) > 1e-4
  with pytest.raises(ValueError, match='disc_type'):
    deep.apply(v, jnp.zeros((2, 5, 3)))


def test_conv_disc_type_builds_conv_global_discriminators_only():
  obj = Objective((terms.OutputSpace({'logits': 1.0}, conv=True, hidden=4, depth=1),
                   terms.Conditional({'stage3': 1.0}, hidden=4, depth=1)))
  params, _ = obj.init(jax.random.key(0), _shapes(logits=(1, 8, 8, 2), stage3=(1, 4, 4, 3)), 2)
  assert params['disc']['global']['logits']['Conv_0']['kernel'].shape == (4, 4, 2, 4)
  assert params['disc']['cdan']['stage3']['Dense_0']['kernel'].shape == (6, 4)
  li = jnp.asarray(np.random.default_rng(0).normal(size=(2, 8, 8, 2)))
  _, metrics, _ = _run(obj, params, {}, {'logits': li, 'stage3': jnp.ones((2, 4, 4, 3))},
                       {'logits': -li, 'stage3': jnp.ones((2, 4, 4, 3))}, li, -li)
  assert np.isfinite(float(metrics['domain_loss/logits']))


def test_cdan_predictions_are_detached():
  feats = jnp.arange(1.0, 5.0).reshape(1, 1, 2, 2)
  logits = jnp.asarray(np.random.default_rng(0).normal(size=(1, 1, 2, 3)))
  total = lambda f, z: jnp.sum(conditional_features(f, z))
  g_feats, g_logits = jax.grad(total, (0, 1))(feats, logits)
  # sum_k f_c p_k = f_c: each feature's gradient is sum_k p_k = 1; none reaches the logits.
  np.testing.assert_allclose(g_feats, np.ones((1, 1, 2, 2)), rtol=1e-6)
  np.testing.assert_array_equal(g_logits, 0.0)


def _adversarial_config(**fields):
  config = tiny_config()
  config.adversarial.update(fields)
  return config.adversarial


def test_config_fields_build_the_package_terms_under_the_checkpoint_keys_of_earlier_runs():
  # Every kind at once; the parameter and state paths are those runs saved before terms
  # were objects, so their checkpoints restore.
  adv = _adversarial_config(taps='stage4,logits,aux_logits', aux_tap='stage3', cdan_taps='decoder',
                            entropy_weight=0.1)
  adv.clustered.taps = 'stem'
  objective = Objective.from_config(adv, 10)
  assert [type(t).__name__ for t in objective.terms] == [
      'GlobalDomain', 'OutputSpace', 'ClusteredDomain', 'Conditional', 'Entropy']
  assert objective.model_taps() == ['decoder', 'logits', 'stage3', 'stage4', 'stem']
  shapes = _shapes(stage4=(1, 2, 2, 8), logits=(1, 8, 8, 5), stage3=(1, 4, 4, 6),
                   decoder=(1, 4, 4, 7), stem=(1, 8, 8, 3))
  params, state = objective.init(jax.random.key(0), shapes, 5)
  paths = lambda tree: sorted('/'.join(str(k.key) for k in p) for p, _ in
                              jax.tree_util.tree_flatten_with_path(tree)[0])
  disc = lambda kind, tap, n: [f'disc/{kind}/{tap}/Dense_{i}/{w}' for i in range(n)
                               for w in ('bias', 'kernel')]
  assert paths(params) == sorted(
      ['aux/bias', 'aux/kernel'] + disc('cdan', 'decoder', 3) + disc('clustered', 'stem', 3)
      + disc('global', 'aux_logits', 3) + disc('global', 'logits', 3) + disc('global', 'stage4', 3))
  assert paths(state) == ['stem']
  assert params['disc']['cdan']['decoder']['Dense_0']['kernel'].shape == (7 * 5, 64)
  assert params['disc']['global']['aux_logits']['Dense_0']['kernel'].shape == (5, 64)
  assert state['stem'].shape == (8, 3)
  assert Objective.from_config(_adversarial_config(taps=''), 10).terms == ()  # source-only


def test_configured_terms_and_bad_term_configs_give_one_clear_line():
  adv = _adversarial_config(taps='')
  with adv.unlocked():
    adv.terms.extra = {'type': 'global', 'taps': 'stage2:0.5', 'depth': 1}
  (term,) = Objective.from_config(adv, 10).terms
  assert term == terms.GlobalDomain({'stage2': 0.5}, depth=1)
  with adv.unlocked():
    adv.terms.extra = {'type': 'no_such_term', 'taps': 'stage2'}
  with pytest.raises(ValueError, match=r"type='no_such_term'; registered: \['cdan', 'clustered'"):
    Objective.from_config(adv, 10)
  with adv.unlocked():
    adv.terms.extra = {'type': 'global', 'taps': 'stage2', 'width': 3}
  with pytest.raises(ValueError, match=r"'global' has no field\(s\) \['width'\]"):
    Objective.from_config(adv, 10)
  with pytest.raises(ValueError, match="disc_type='patch'"):
    Objective.from_config(_adversarial_config(taps='stage2', disc_type='patch'), 10)
  with pytest.raises(ValueError, match='already registered'):
    terms.register('global')(type('Other', (), {}))
  with pytest.raises(ValueError, match="'aux_logits' is the output-space term's"):
    Objective.from_config(_adversarial_config(cdan_taps='aux_logits', aux_tap='stage3'), 10)


def test_nonsaturating_loss_trains_the_discriminator_plainly_and_the_network_on_flipped_labels():
  rng = np.random.default_rng(2)
  fi, fv = (jnp.asarray(rng.normal(size=s), jnp.float32) for s in [(3, 2), (4, 2)])
  obj = Objective((terms.GlobalDomain({'f': 0.5}, depth=0, gan_loss='nonsaturating'),))
  params, _ = obj.init(jax.random.key(0), _shapes(f=(1, 2)), 2)
  lam = 0.3

  def total(params, fi, fv):
    return _run(obj, params, {}, {'f': fi}, {'f': fv}, lam=lam)[0]
  g_params, g_fi, g_fv = jax.grad(total, (0, 1, 2))(params, fi, fv)
  disc = params['disc']['global']['f']['Dense_0']
  logit = lambda d, x: x @ d['kernel'][:, 0] + d['bias'][0]
  # The discriminator: the plain domain loss (image 0, video 1), weighted.
  plain = lambda d: 0.5 * domain_loss(logit(d, fi), logit(d, fv))[0]
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5),
               g_params['disc']['global']['f']['Dense_0'], jax.grad(plain)(disc))
  # The network: lambda times the loss with the labels flipped (image 1, video 0).
  flipped = lambda fi, fv: 0.5 * lam * domain_loss(logit(disc, fv), logit(disc, fi))[0]
  h_fi, h_fv = jax.grad(flipped, (0, 1))(fi, fv)
  np.testing.assert_allclose(g_fi, h_fi, rtol=1e-5)
  np.testing.assert_allclose(g_fv, h_fv, rtol=1e-5)
  # Where the discriminator is sure (a video position at logit 8) the reversed gradient
  # vanishes, sigmoid(-8), and the flipped one does not, sigmoid(8).
  minimax = Objective((terms.GlobalDomain({'f': 0.5}, depth=0),))
  w, b = disc['kernel'][:, 0], disc['bias'][0]
  sure = ((8.0 - b) * w / jnp.sum(w * w))[None]
  pull = lambda o: jnp.linalg.norm(jax.grad(lambda v: _run(o, params, {}, {'f': fi}, {'f': v},
                                                           lam=lam)[0])(sure))
  assert float(pull(obj) / pull(minimax)) == pytest.approx(np.exp(8.0), rel=1e-3)
  with pytest.raises(ValueError, match="gan_loss='gan'"):
    terms.GlobalDomain({'f': 1.0}, gan_loss='gan')


def test_paper_s_clustered_term_takes_its_own_weight_and_reversal_maximum():
  adv = _adversarial_config(taps='stage4', weight=0.1, lambda_max=1.0)
  adv.clustered.taps = 'stem'
  glob, clus = Objective.from_config(adv, 10).terms
  assert (glob.taps, clus.taps, clus.lambda_max) == ({'stage4': 0.1}, {'stem': 0.1}, None)
  adv.clustered.weight, adv.clustered.lambda_max = 0.3, 0.25
  glob, clus = Objective.from_config(adv, 10).terms
  assert (glob.taps, clus.taps, clus.lambda_max) == ({'stage4': 0.1}, {'stem': 0.3}, 0.25)
  assert glob.lambda_max is None
  # A term's own maximum rescales the shared schedule: its reversed gradient is
  # own / shared (0.25 / 2.0) times what the shared maximum gives, whatever the step.
  rng = np.random.default_rng(3)
  fi, fv = (jnp.asarray(rng.normal(size=s), jnp.float32) for s in [(3, 2), (4, 2)])
  term = terms.GlobalDomain({'f': 1.0}, depth=0)
  params, _ = Objective((term,)).init(jax.random.key(0), _shapes(f=(1, 2)), 2)
  grad = lambda t: jax.grad(lambda fi: _run(Objective((t,), lambda_max=2.0), params, {},
                                            {'f': fi}, {'f': fv}, lam=0.6)[0])(fi)
  np.testing.assert_allclose(grad(dataclasses.replace(term, lambda_max=0.25)),
                             0.125 * grad(term), rtol=1e-6)
  with pytest.raises(ValueError, match='lambda_max=0 while a term sets its own'):
    Objective((clus,), lambda_max=0.0)
