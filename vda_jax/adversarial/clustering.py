"""Online k-means over tap features (mini-batch k-means with an EMA of centroids).

Pure functions on (N, C) samples; the centroids live in the train state and
are updated once per step from that step's features of both domains.
"""
import jax
import jax.numpy as jnp


def prepare(features, normalize):
  """Tap features (..., C) -> (N, C) float32 samples, L2-normalised if asked.

  Normalising makes the clustering follow feature direction, which stays
  comparable while the features' scale drifts during training.
  """
  x = features.reshape(-1, features.shape[-1]).astype(jnp.float32)
  if normalize:
    x = x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-6)
  return x


def assign(x, centroids):
  """Index of the nearest centroid (squared Euclidean) for each row of x."""
  d = (jnp.sum(x * x, -1, keepdims=True) - 2 * x @ centroids.T +
       jnp.sum(centroids * centroids, -1))
  return jnp.argmin(d, axis=-1)


def farthest_point_init(x, k):
  """k rows of x, deterministic: the row nearest the mean, then farthest-point picks."""
  first = jnp.argmin(jnp.sum((x - x.mean(0)) ** 2, -1))
  d = jnp.sum((x - x[first]) ** 2, -1)
  idx = jnp.zeros((k,), jnp.int32).at[0].set(first)

  def pick(i, carry):
    idx, d = carry
    j = jnp.argmax(d)
    return idx.at[i].set(j), jnp.minimum(d, jnp.sum((x - x[j]) ** 2, -1))

  idx, _ = jax.lax.fori_loop(1, k, pick, (idx, d))
  return x[idx]


def segment_mean(x, labels, k):
  """(means, counts) of the rows of x (N, ...) per label in [0, k); an empty label's mean is 0."""
  sums = jax.ops.segment_sum(x, labels, num_segments=k)
  counts = jax.ops.segment_sum(jnp.ones(x.shape[:1], x.dtype), labels, num_segments=k)
  return sums / jnp.maximum(counts, 1).reshape((k,) + (1,) * (x.ndim - 1)), counts


def ema_update(centroids, x, labels, momentum):
  """c_k <- momentum * c_k + (1 - momentum) * mean of the rows assigned to k.

  A cluster that got no rows this step keeps its centroid.
  """
  means, counts = segment_mean(x, labels, centroids.shape[0])
  updated = momentum * centroids + (1 - momentum) * means
  return jnp.where(counts[:, None] > 0, updated, centroids)


def occupancy(labels, k):
  """Share of the rows in each cluster, shape (k,)."""
  return jnp.bincount(labels, length=k) / labels.shape[0]
