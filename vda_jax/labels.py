"""What label values mean, everywhere in vda_jax: 0 is background, 1..K-1 are
classes or object ids, VOID (255) is unlabeled and ignored by the loss and by
every metric."""
import numpy as np

VOID = 255


def to_foreground(labels):
  """Object ids or classes -> 1, background -> 0, void stays VOID (uint8)."""
  labels = np.asarray(labels)
  # In uint8 throughout: np.where(labels == VOID, VOID, labels > 0) computes in int64,
  # 4x slower on the full-resolution frames every video evaluation converts.
  out = (labels > 0).astype(np.uint8)
  out[labels == VOID] = VOID
  return out
