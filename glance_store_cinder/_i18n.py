"""Translation hooks (oslo.i18n)."""

import oslo_i18n

_translators = oslo_i18n.TranslatorFactory(domain="glance_store_cinder")

# The primary translation function using the well-known name "_"
_ = _translators.primary
