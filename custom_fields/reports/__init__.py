"""Reports: a definition (:mod:`.spec`) run by the engine (:mod:`.engine`) over an object's
records with the list views' filters, data scope and field access, and the definitions every
company gets (:mod:`.builtins`). See docs/reports.md."""
