"""Starting Custody as deployed: the scale-out layout on one machine."""
