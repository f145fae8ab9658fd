from .multi_branch_data_preprocessor import MultiBranchDataPreProcessor

__all__ = ['MultiBranchDataPreProcessor']
