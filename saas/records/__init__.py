"""CRM records: the tables of the standard objects and of custom objects, and the generic
create/read/update/delete service every object shares."""
