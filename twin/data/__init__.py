"""A retailer's own data: the data package (tables, checks, sample), its fit to a scenario,
the network and demand a package scenario runs on, and run exports."""
