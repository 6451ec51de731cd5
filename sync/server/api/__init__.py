"""HTTP layer of the cloud service: typed dependencies and one router per resource."""
