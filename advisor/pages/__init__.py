"""Page builders: read-only, one module per page, each turning validated input into what a template
or the JSON API shows. Every figure comes from one ``Plan`` per (model, quant, machine, context,
runtime), made by ``advisor.services.plan_for``."""
