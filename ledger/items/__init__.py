"""Items: clips and derived items, their lineage, the use check and manifests."""
