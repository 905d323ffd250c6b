# scrobin: robust and explained single-cell cell-type classifiers.
# Table of contents only: configuration and validation live in workflow/rules/common.smk,
# each stage in its own rule file, the logic in the scrobin package.
from snakemake.utils import min_version

min_version("9.0")


# The embedded default run, unless a config file is given with --configfile: then that file alone
# (Snakemake would otherwise merge both, adding the default datasets to every custom run).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/robustness.smk"
include: "workflow/rules/attribution.smk"
include: "workflow/rules/evaluation.smk"
include: "workflow/rules/enrichment.smk"
include: "workflow/rules/compare.smk"


rule all:
    input:
        all_targets(),
    default_target: True
