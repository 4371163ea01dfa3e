"""From checked documents to plans: lint the whole library and compile every SOP and region
into a frozen, hashed :class:`~sopflow.contract.plan.Plan` (``lint``, ``compiler``), draw a
plan (``graph``) and compare two (``diff``)."""
