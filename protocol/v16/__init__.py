"""protocol/v16"""
