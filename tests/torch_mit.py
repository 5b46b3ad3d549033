"""The official MiT encoder (SegFormer, NVlabs mix_transformer.py) in PyTorch, inference only.

Same module structure and parameter names as the published checkpoints, so its
random-weight state_dict stands in for a downloaded one in the conversion test.
"""
from torch import nn


class OverlapPatchEmbed(nn.Module):

  def __init__(self, patch_size, stride, in_chans, embed_dim):
    super().__init__()
    self.proj = nn.Conv2d(in_chans, embed_dim, patch_size, stride, padding=patch_size // 2)
    self.norm = nn.LayerNorm(embed_dim)

  def forward(self, x):
    x = self.proj(x)
    _, _, h, w = x.shape
    return self.norm(x.flatten(2).transpose(1, 2)), h, w


class Attention(nn.Module):

  def __init__(self, dim, num_heads, sr_ratio):
    super().__init__()
    self.num_heads, self.scale, self.sr_ratio = num_heads, (dim // num_heads) ** -0.5, sr_ratio
    self.q = nn.Linear(dim, dim)
    self.kv = nn.Linear(dim, dim * 2)
    self.proj = nn.Linear(dim, dim)
    if sr_ratio > 1:
      self.sr = nn.Conv2d(dim, dim, sr_ratio, sr_ratio)
      self.norm = nn.LayerNorm(dim)

  def forward(self, x, h, w):
    b, n, c = x.shape
    q = self.q(x).reshape(b, n, self.num_heads, c // self.num_heads).permute(0, 2, 1, 3)
    x_ = x
    if self.sr_ratio > 1:
      x_ = self.sr(x.permute(0, 2, 1).reshape(b, c, h, w)).reshape(b, c, -1).permute(0, 2, 1)
      x_ = self.norm(x_)
    kv = self.kv(x_).reshape(b, -1, 2, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
    attn = ((q @ kv[0].transpose(-2, -1)) * self.scale).softmax(dim=-1)
    return self.proj((attn @ kv[1]).transpose(1, 2).reshape(b, n, c))


class DWConv(nn.Module):

  def __init__(self, dim):
    super().__init__()
    self.dwconv = nn.Conv2d(dim, dim, 3, 1, 1, bias=True, groups=dim)

  def forward(self, x, h, w):
    b, n, c = x.shape
    return self.dwconv(x.transpose(1, 2).view(b, c, h, w)).flatten(2).transpose(1, 2)


class Mlp(nn.Module):

  def __init__(self, dim, hidden):
    super().__init__()
    self.fc1, self.dwconv, self.act, self.fc2 = (nn.Linear(dim, hidden), DWConv(hidden),
                                                 nn.GELU(), nn.Linear(hidden, dim))

  def forward(self, x, h, w):
    return self.fc2(self.act(self.dwconv(self.fc1(x), h, w)))


class Block(nn.Module):

  def __init__(self, dim, num_heads, mlp_ratio, sr_ratio):
    super().__init__()
    self.norm1 = nn.LayerNorm(dim, eps=1e-6)
    self.attn = Attention(dim, num_heads, sr_ratio)
    self.norm2 = nn.LayerNorm(dim, eps=1e-6)
    self.mlp = Mlp(dim, dim * mlp_ratio)

  def forward(self, x, h, w):
    x = x + self.attn(self.norm1(x), h, w)
    return x + self.mlp(self.norm2(x), h, w)


class MixVisionTransformer(nn.Module):

  def __init__(self, embed_dims, num_heads, depths, sr_ratios, mlp_ratio=4, num_classes=1000):
    super().__init__()
    for i in range(4):
      setattr(self, f'patch_embed{i + 1}', OverlapPatchEmbed(
          7 if i == 0 else 3, 4 if i == 0 else 2, 3 if i == 0 else embed_dims[i - 1],
          embed_dims[i]))
      setattr(self, f'block{i + 1}', nn.ModuleList(
          [Block(embed_dims[i], num_heads[i], mlp_ratio, sr_ratios[i]) for _ in range(depths[i])]))
      setattr(self, f'norm{i + 1}', nn.LayerNorm(embed_dims[i], eps=1e-6))
    self.head = nn.Linear(embed_dims[3], num_classes)  # ImageNet head, unused for segmentation

  def forward(self, x):
    outs = []
    for i in range(4):
      x, h, w = getattr(self, f'patch_embed{i + 1}')(x)
      for blk in getattr(self, f'block{i + 1}'):
        x = blk(x, h, w)
      x = getattr(self, f'norm{i + 1}')(x)
      x = x.reshape(x.shape[0], h, w, -1).permute(0, 3, 1, 2).contiguous()
      outs.append(x)
    return outs
