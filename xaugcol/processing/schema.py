"""The coffea schema of the ROOT inputs: NanoAOD's for NanoAOD-like files (CMS NanoAOD / PFNano, our generators),
coffea's flat base schema for the CMS open-data H->bb ntuples (one entry per jet, no event identity:
``opendata_table``). One Runner reads both kinds of file; the choice is made per file from its branches."""

from __future__ import annotations

from coffea.nanoevents import BaseSchema, NanoAODSchema

from xaugcol.processing.opendata_table import is_opendata_layout


class InputSchema(BaseSchema):
    """NanoAODSchema where the file has NanoAOD's event identity, BaseSchema for the open-data ntuples.

    Parameters
    ----------
    base_form : dict
        The file's form, as coffea's NanoEvents factory passes it to a schema.
    *args
        Passed on to the chosen schema.
    **kwargs
        Passed on to the chosen schema.
    """

    __dask_capable__ = True

    def __init__(self, base_form, *args, **kwargs):
        if is_opendata_layout(base_form.get("fields", ())):
            super().__init__(base_form, *args, **kwargs)
        else:
            self._form = NanoAODSchema(base_form, *args, **kwargs).form

    @classmethod
    def behavior(cls) -> dict:
        """NanoAOD's behaviours, for both kinds of file.

        Returns
        -------
        dict
            ``NanoAODSchema.behavior()``.
        """
        return NanoAODSchema.behavior()
