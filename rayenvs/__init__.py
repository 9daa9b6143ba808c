"""rayenvs: Gymnasium environments whose objective is a sum of known components.

``import rayenvs`` registers every ``rayenvs/...-vN`` id with Gymnasium (see :mod:`rayenvs.registration`);
the component contract the envs follow is documented in :mod:`rayenvs.contract`.
"""

from rayenvs.registration import CATALOG, EnvInfo, env_info, register_all

__version__ = "0.1.0"

register_all()

__all__ = ["CATALOG", "EnvInfo", "env_info", "__version__"]
