"""Rebuild pbmc_small.h5ad from scanpy's bundled pbmc68k_reduced (seeded, offline)."""

import anndata as ad
import numpy as np
import scanpy as sc
import scipy.sparse as sp

TYPES = ["Dendritic", "CD14+ Monocyte", "CD19+ B", "CD4+/CD25 T Reg", "CD8+ Cytotoxic T"]

full = sc.datasets.pbmc68k_reduced()
rng = np.random.default_rng(0)
rows = np.sort(np.concatenate([rng.choice(np.flatnonzero(full.obs.bulk_labels == t), 40, replace=False) for t in TYPES]))
small = ad.AnnData(X=sp.csr_matrix(full.raw.X[rows], dtype=np.float32), obs=full.obs[["bulk_labels"]].iloc[rows].copy(), var=full.raw.var[[]].copy())
small.obs["bulk_labels"] = small.obs["bulk_labels"].astype(str).astype("category")
small.write_h5ad("tests/data/pbmc_small.h5ad", compression="gzip")
